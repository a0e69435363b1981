"""One optimizer step of a `Trainer`, the failure after too many bad steps, and the hooks.

`_one_step` is steps 1-4 of the loop in `trainer.py`'s docstring: the learning rate from the
schedule, `grad_accum` micro-batches (forward under the device's autocast, backward of the loss
divided by grad_accum, scaled first under fp16's GradScaler; with DDP, gradients are synced only
after the last micro-batch), the global gradient norm clipped to `grad_clip`, and the optimizer
step only when the loss and the norm are finite (a NaN never reaches the weights). A pause
between micro-batches is served; a stop there (one process only) abandons the step, and so does
a failed compiled forward (the loop then goes on in eager mode).
`Trainer` mixes this in; it uses only the attributes named below.
Left out: the loop around it (`trainer.py`), the device policy (`device.py`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from gptstudio.core.errors import TrainingError
from gptstudio.core.train.config import TrainConfig
from gptstudio.core.train.control import TrainControl
from gptstudio.core.train.device import DevicePolicy
from gptstudio.core.train.events import StatusEvent, TrainEvent, WarningEvent
from gptstudio.core.train.optimizer import clip_targets
from gptstudio.core.train.task import BatchSource, TrainTask

if TYPE_CHECKING:
    from gptstudio.core.train.serving import RequestServer

Hook = Callable[[nn.Module, int], None]


@dataclass(frozen=True)
class StepResult:
    """What one optimizer step did (see `StepMixin._one_step`)."""

    loss: float
    grad_norm: float
    lr: float
    seconds: float
    applied: bool
    tokens: int  # input tokens of the step's micro-batches (padding included)
    overflow: bool = False  # fp16: the gradients overflowed, the scaler lowers its scale


class StepMixin:
    """The optimizer step of a `Trainer` (see the module docstring)."""

    # The trainer's attributes this uses.
    model: nn.Module
    _train_model: nn.Module
    config: TrainConfig
    control: TrainControl
    policy: DevicePolicy
    device: torch.device
    optimizer: torch.optim.Optimizer
    task: TrainTask
    batcher: BatchSource
    serving: RequestServer
    hooks: Sequence[Hook]
    world_size: int
    step: int
    peak_lr_override: float | None
    _scaler: torch.amp.GradScaler | None
    _autocast: Callable[[], Any]
    _compile_failed: bool
    _saved_step: int | None
    _saved_path: str | None
    _emit: Callable[[TrainEvent], TrainEvent]
    learning_rate: Callable[[int], float]

    def _one_step(self, forward: Callable[..., Any]) -> Iterator[TrainEvent]:
        """One optimizer step (a sub-generator: yields pause events, returns a StepResult or
        None if stopped half-way or if a compiled forward failed)."""
        cfg = self.config
        if self.control.learning_rate is not None:
            self.peak_lr_override = self.control.learning_rate
        lr = self.learning_rate(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        started, paused_seconds = time.perf_counter(), 0.0
        loss_sum, n_tokens = torch.zeros((), dtype=torch.float32, device=self.device), 0
        for micro in range(cfg.grad_accum):
            while micro > 0 and self.control.paused:
                pause_started = time.perf_counter()
                yield from self.serving.pause(self.step, at_step_boundary=False)
                paused_seconds += time.perf_counter() - pause_started
            if micro > 0 and self.world_size == 1 and self.control.stopped:  # DDP: at the end
                self.optimizer.zero_grad(set_to_none=True)
                return None
            batch = self.policy.to_device(self.batcher.next_batch())
            n_tokens += batch[0].numel()
            # With DDP, gradients are averaged across ranks only after the last micro-batch.
            last = micro == cfg.grad_accum - 1
            no_sync = getattr(self._train_model, "no_sync", None)
            with nullcontext() if last or no_sync is None else no_sync():
                try:
                    with self._autocast():
                        loss = self.task.loss_fn(forward, batch)
                except Exception as exc:
                    if forward is self._train_model:
                        raise
                    yield self._emit(WarningEvent(self.step, f"torch.compile failed ({exc}); "
                                                             "training goes on without it."))
                    self._compile_failed = True
                    self.optimizer.zero_grad(set_to_none=True)
                    return None
                scaled = loss / cfg.grad_accum
                (scaled if self._scaler is None else self._scaler.scale(scaled)).backward()
            loss_sum += loss.detach().float()
        loss_value = float(loss_sum) / cfg.grad_accum
        if self._scaler is not None:  # fp16: true gradients before measuring and clipping
            self._scaler.unscale_(self.optimizer)
        params = clip_targets(self.optimizer)
        if cfg.grad_clip > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
        else:
            grad_norm = float(torch.nn.utils.get_total_norm([p.grad for p in params]))
        # The check comes *before* optimizer.step(): a NaN must never reach the weights.
        applied = math.isfinite(loss_value) and math.isfinite(grad_norm)
        if applied:
            self.optimizer.step()
        overflow = self._scaler is not None and not applied and math.isfinite(loss_value)
        if self._scaler is not None:
            self._scaler.update()  # lowered after an overflow, raised after a run of good steps
        self.optimizer.zero_grad(set_to_none=True)
        seconds = time.perf_counter() - started - paused_seconds
        return StepResult(loss_value, grad_norm, lr, seconds, applied, n_tokens, overflow)

    def _fail(self, n_in_row: int) -> Iterator[TrainEvent]:
        kept = (f" The last good checkpoint (step {self._saved_step}) is kept: "
                f"{self._saved_path}." if self._saved_path else "")
        message = (f"Training stopped at step {self.step}: the loss or the gradients were not "
                   f"finite (NaN or infinity) in {n_in_row} steps in a row, so none of them was "
                   "applied. Try a lower learning rate, gradient clipping or fp32 precision."
                   + kept)
        yield self._emit(StatusEvent("failed", message, self.step))
        raise TrainingError(message)

    def _run_hooks(self) -> None:
        if not self.hooks:
            return
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            for hook in self.hooks:
                hook(self.model, self.step)
        self.model.train()
