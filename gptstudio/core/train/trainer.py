"""The training loop, as a generator of events.

One optimizer step:
1. set the learning rate from the schedule (scaled if the peak was changed mid-run);
2. for each of `grad_accum` micro-batches: forward (under bf16 autocast if chosen), divide the
   loss by grad_accum and backward, so the summed gradients are those of one big batch;
3. measure the global gradient norm and clip it to `grad_clip`;
4. if the loss or the norm is NaN/inf, *skip*: no optimizer step (one non-finite AdamW update
   would poison the weights and Adam's moments for good), the gradients are dropped; after
   `max_nonfinite` such steps in a row the run fails with a clear message;
5. otherwise `optimizer.step()`; then the hooks run and a `StepEvent` is yielded.
Every `eval_interval` steps: an `EvalEvent`; every `sample_interval`: a `SampleEvent`; every
`checkpoint_interval` (with a run folder): a checkpoint. Before each step and between
micro-batches the `TrainControl` is asked whether to pause or stop, so a stop is never half a step.

Exact resume: the checkpoint holds the weights, AdamW's moments, the data position and the RNG
state *as of the last completed step* (a step abandoned half-way is redone), and the schedule is a
function of the step, so a resumed run continues bit for bit (on CPU).

Distributed training (later, under torchrun): `rank` and `world_size` select per-rank data seeds;
only rank 0 writes metrics and checkpoints; a model wrapped in DDP skips gradient sync on all but
the last micro-batch. Nothing here is global. Left out: the pieces this uses (schedule, optimizer,
evaluation, precision, checkpoint and run modules).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from gptstudio.core.data import RandomBatcher
from gptstudio.core.errors import CheckpointError, DatasetError, TrainingError
from gptstudio.core.train.checkpoint import LoadedCheckpoint, save_checkpoint
from gptstudio.core.train.config import TrainConfig
from gptstudio.core.train.control import TrainControl
from gptstudio.core.train.distributed import rank_and_world_size, resumed_seed
from gptstudio.core.train.evaluation import SplitEvaluator
from gptstudio.core.train.events import (
    CheckpointEvent,
    EvalEvent,
    SampleEvent,
    StatusEvent,
    StepEvent,
    TrainEvent,
    WarningEvent,
)
from gptstudio.core.train.optimizer import build_optimizer, clip_targets
from gptstudio.core.train.precision import autocast_factory, resolve_compile, resolve_precision
from gptstudio.core.train.samples import check_sample_prompt, sample_text
from gptstudio.core.train.schedule import learning_rate_at
from gptstudio.core.train.state import DataPosition, ResumeState

Hook = Callable[[nn.Module, int], None]
EVAL_SEED_OFFSET = 1_000_003  # evaluation batches never coincide with the training stream


@dataclass(frozen=True)
class _StepResult:
    loss: float
    grad_norm: float
    lr: float
    seconds: float
    applied: bool


class Trainer:
    """Trains `model` on `train_tokens`; iterate `events()` to run it (see the module docstring).

    `start_state`: a `LoadedCheckpoint` (or its `train_state`) to resume from; its weights must
    already be in `model` (`load_checkpoint(path, model)` does that). `hooks` are called as
    `hook(model, step)` after every step, in the training thread, without gradients, with the
    training RNG set aside (a hook can't change the run's randomness).
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        train_tokens: np.ndarray,
        val_tokens: np.ndarray,
        config: TrainConfig,
        *,
        run: Any | None = None,
        control: TrainControl | None = None,
        hooks: Sequence[Hook] = (),
        start_state: LoadedCheckpoint | dict[str, Any] | None = None,
        rank: int | None = None,
        world_size: int | None = None,
    ) -> None:
        self.model = getattr(model, "module", model)  # unwrapped: what is saved and sampled
        self._train_model = model  # possibly DDP-wrapped: what is trained
        self.tokenizer = tokenizer
        self.config = config
        self.run = run
        self.control = control if control is not None else TrainControl()
        self.hooks = tuple(hooks)
        self.rank, self.world_size = rank_and_world_size(rank, world_size)
        self.device = next(self.model.parameters()).device
        self.block_size = int(self.model.config.block_size)
        self.precision = resolve_precision(config.precision, self.device)
        self.compiled = resolve_compile(config.compile, self.device)
        self._autocast = autocast_factory(self.precision, self.device)
        self.optimizer = build_optimizer(
            self.model, learning_rate=config.learning_rate, weight_decay=config.weight_decay,
            betas=(config.beta1, config.beta2),
            flat=model is self.model,  # DDP keeps gradients in buckets of its own
        )
        # Each rank draws its own windows; the checkpointed position is rank 0's.
        self.batcher = RandomBatcher(train_tokens, self.block_size, config.batch_size,
                                     seed=config.seed + self.rank)
        self.evaluator = SplitEvaluator(
            tokenizer, {"train": train_tokens, "val": val_tokens}, block_size=self.block_size,
            batch_size=config.batch_size, iters=config.eval_iters,
            seed=config.seed + EVAL_SEED_OFFSET + self.rank, autocast=self._autocast,
        )
        if config.sample_interval and self.rank == 0:
            check_sample_prompt(tokenizer, config.sample_prompt)

        self.step = 0
        self.tokens_seen = 0
        self.elapsed = 0.0  # seconds spent in training steps (not pauses, evals or samples)
        self.best_val_loss: float | None = None
        self.peak_lr_override: float | None = None  # set through TrainControl.set_learning_rate
        self._start_rng: torch.Tensor | None = None
        self._compile_failed = False
        self._started = False
        self._saved_step: int | None = None  # step of the last checkpoint written or loaded
        self._saved_path: str | None = None
        self._last_eval: tuple[int, float] | None = None  # (step, val loss) of the latest eval
        if start_state is not None:
            self._restore(start_state)

    @property
    def tokens_per_step(self) -> int:
        """Tokens one optimizer step consumes on this rank."""
        return self.config.batch_size * self.config.grad_accum * self.block_size

    @property
    def peak_lr(self) -> float:
        """The schedule's peak in use: the configured one, or the one set mid-run."""
        return self.config.learning_rate if self.peak_lr_override is None else \
            self.peak_lr_override

    def learning_rate(self, step: int) -> float:
        """The learning rate of step `step` (0-based), with the current peak."""
        cfg = self.config
        scale = self.peak_lr / cfg.learning_rate  # the floor follows the peak
        return learning_rate_at(step, peak_lr=self.peak_lr, min_lr=cfg.min_lr * scale,
                                warmup_steps=cfg.warmup_steps, decay_steps=cfg.decay_steps)

    # --- the loop ---------------------------------------------------------------------------

    def events(self) -> Iterator[TrainEvent]:
        """Run training to `max_steps` (or a stop), yielding events as they happen.

        When paused, a `StatusEvent("paused")` is yielded and the *next* `next()` blocks until
        `control.resume()` or `stop()` (so resume from another thread, or before asking for the
        next event). Raises TrainingError after `max_nonfinite` non-finite steps in a row
        (a "failed" StatusEvent comes first); other errors propagate after a "failed" status.
        A Trainer runs once: make a new one (from a checkpoint) to train again.
        """
        if self._started:
            raise TrainingError("This Trainer has already run; make a new one to train again.")
        self._started = True
        try:
            yield from self._events()
        except TrainingError:
            raise
        except Exception as exc:
            self._log(StatusEvent("failed", f"Training failed: {exc}", self.step))
            raise

    def _events(self) -> Iterator[TrainEvent]:
        cfg = self.config
        if self._start_rng is None:
            torch.manual_seed(cfg.seed + self.rank)  # dropout's stream; data has its own
        else:
            torch.set_rng_state(self._start_rng)
        self._train_model.train()
        forward = torch.compile(self._train_model) if self.compiled else self._train_model
        verb = "Resuming" if self.step else "Starting"
        yield self._emit(StatusEvent("running", f"{verb} training at step {self.step} of "
                                                f"{cfg.max_steps} ({self.precision}).", self.step))
        nonfinite_in_row, avg_step_time = 0, None
        while self.step < cfg.max_steps:
            while self.control.paused:
                yield from self._pause()
            if self.control.stopped:
                break
            position = DataPosition.capture(self.batcher)
            result = yield from self._one_step(forward)
            if result is None:  # this step never happened: put data and RNG back
                position.restore(self.batcher)
                if self._compile_failed and forward is not self._train_model:
                    forward = self._train_model  # go on in eager mode
                    continue
                break  # stopped between micro-batches
            self.step += 1
            self.tokens_seen += self.tokens_per_step * self.world_size
            self.elapsed += result.seconds
            avg_step_time = result.seconds if avg_step_time is None else \
                0.9 * avg_step_time + 0.1 * result.seconds
            nonfinite_in_row = 0 if result.applied else nonfinite_in_row + 1
            if not result.applied:
                yield self._emit(WarningEvent(self.step, (
                    f"Step {self.step} was skipped: the loss ({result.loss:.4g}) or the gradient "
                    f"norm ({result.grad_norm:.4g}) was not finite, so no weight was changed.")))
            self._run_hooks()
            yield self._emit(StepEvent(
                step=self.step, loss=result.loss, lr=result.lr, grad_norm=result.grad_norm,
                tokens_per_sec=self.tokens_per_step * self.world_size / max(result.seconds, 1e-9),
                tokens_seen=self.tokens_seen, elapsed=self.elapsed,
                eta=(cfg.max_steps - self.step) * avg_step_time, max_steps=cfg.max_steps,
                step_time=result.seconds, skipped=not result.applied,
            ))
            if nonfinite_in_row >= cfg.max_nonfinite:
                yield from self._fail(nonfinite_in_row)
            if cfg.eval_interval and self.step % cfg.eval_interval == 0:
                yield self._emit(self.evaluate())
            if cfg.sample_interval and self.step % cfg.sample_interval == 0 and self.rank == 0:
                yield self._emit(self.sample())
            if cfg.checkpoint_interval and self.step % cfg.checkpoint_interval == 0:
                yield from self._checkpoint()

        finished = self.step >= cfg.max_steps
        if finished and self._val_loss_now() is None:
            yield self._emit(self.evaluate())  # a finished run always reports its final losses
        if self.step > 0 and self._saved_step != self.step:
            yield from self._checkpoint()
        state = "finished" if finished else "stopped"
        where = f" Checkpoint: {self._saved_path}." if self._saved_path else ""
        yield self._emit(StatusEvent(state, f"Training {state} at step {self.step}.{where}",
                                     self.step))

    def _one_step(self, forward: Callable) -> Iterator[TrainEvent]:
        """One optimizer step (a sub-generator: yields pause events, returns a _StepResult or
        None if stopped half-way or if a compiled forward failed)."""
        cfg = self.config
        if self.control.learning_rate is not None:
            self.peak_lr_override = self.control.learning_rate
        lr = self.learning_rate(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        started, paused_seconds = time.perf_counter(), 0.0
        loss_sum = torch.zeros((), dtype=torch.float32)
        for micro in range(cfg.grad_accum):
            while micro > 0 and self.control.paused:
                pause_started = time.perf_counter()
                yield from self._pause()
                paused_seconds += time.perf_counter() - pause_started
            if micro > 0 and self.control.stopped:
                self.optimizer.zero_grad(set_to_none=True)
                return None
            x, y = self.batcher.next_batch()
            x, y = x.to(self.device), y.to(self.device)
            # With DDP, gradients are averaged across ranks only after the last micro-batch.
            last = micro == cfg.grad_accum - 1
            no_sync = getattr(self._train_model, "no_sync", None)
            with nullcontext() if last or no_sync is None else no_sync():
                try:
                    with self._autocast():
                        loss = forward(x, y).loss
                except Exception as exc:
                    if forward is self._train_model:
                        raise
                    yield self._emit(WarningEvent(self.step, f"torch.compile failed ({exc}); "
                                                             "training goes on without it."))
                    self._compile_failed = True
                    self.optimizer.zero_grad(set_to_none=True)
                    return None
                (loss / cfg.grad_accum).backward()
            loss_sum += loss.detach().float()
        loss_value = float(loss_sum) / cfg.grad_accum
        params = clip_targets(self.optimizer)
        if cfg.grad_clip > 0:
            grad_norm = float(torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip))
        else:
            grad_norm = float(torch.nn.utils.get_total_norm([p.grad for p in params]))
        # The check comes *before* optimizer.step(): a NaN must never reach the weights.
        applied = math.isfinite(loss_value) and math.isfinite(grad_norm)
        if applied:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        seconds = time.perf_counter() - started - paused_seconds
        return _StepResult(loss_value, grad_norm, lr, seconds, applied)

    def _pause(self) -> Iterator[TrainEvent]:
        yield self._emit(StatusEvent("paused", f"Paused at step {self.step}.", self.step))
        self.control.wait_while_paused()
        if not self.control.stopped:
            yield self._emit(StatusEvent("running", f"Resumed at step {self.step}.", self.step))

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

    # --- evaluation, samples, checkpoints ---------------------------------------------------

    def evaluate(self) -> EvalEvent:
        """Mean loss, perplexity and bits per byte on both splits, at the current weights."""
        results = self.evaluator(self.model)
        train, val = results["train"], results["val"]
        best = math.isfinite(val.loss) and (self.best_val_loss is None
                                            or val.loss < self.best_val_loss)
        if best:
            self.best_val_loss = val.loss
        self._last_eval = (self.step, val.loss)
        return EvalEvent(step=self.step, train_loss=train.loss, val_loss=val.loss,
                         train_ppl=train.perplexity, val_ppl=val.perplexity,
                         train_bpb=train.bits_per_byte, val_bpb=val.bits_per_byte, best=best)

    def sample(self) -> SampleEvent:
        """Text from the fixed prompt with the fixed seed, at the current weights."""
        cfg = self.config
        text = sample_text(self.model, self.tokenizer, cfg.sample_prompt,
                           max_new_tokens=cfg.sample_tokens, temperature=cfg.sample_temperature,
                           seed=cfg.seed)
        return SampleEvent(step=self.step, prompt=cfg.sample_prompt, text=text)

    def _checkpoint(self) -> Iterator[TrainEvent]:
        if self.run is not None and self.rank == 0:
            yield self.save_checkpoint()

    def save_checkpoint(self) -> CheckpointEvent:
        """Save a checkpoint of the current step now, log it to the run and return its event.

        Call it between steps from the thread that iterates `events()`: after a StepEvent, or
        while paused (the "paused" StatusEvent was yielded and the loop waits). The checkpoint
        resumes exactly like the trainer's own (keep-last and best-validation rules included).
        TrainingError if the trainer has no run folder or is not rank 0.
        """
        if self.run is None or self.rank != 0:
            raise TrainingError("Only a trainer with a run folder (rank 0) saves checkpoints.")
        info = save_checkpoint(
            self.run.checkpoints_dir, self.step, self.model, self.train_state(),
            model_config=self.model.config.to_dict(),
            tokenizer_fingerprint=self.tokenizer.fingerprint(),
            tokenizer_name=getattr(self.tokenizer, "name", None),
            val_loss=self._val_loss_now(), keep_last=self.config.keep_last,
        )
        self._saved_step, self._saved_path = self.step, str(info.path)
        best = self.run.best_checkpoint()
        return self._emit(CheckpointEvent(step=self.step, path=str(info.path),
                                          best=best is not None and best.path == info.path))

    def _val_loss_now(self) -> float | None:
        """The validation loss measured at the current step, if the latest evaluation was here."""
        last = self._last_eval
        return last[1] if last is not None and last[0] == self.step else None

    def train_state(self) -> dict[str, Any]:
        """Everything besides the weights that exact resume needs (tensors and plain values)."""
        return ResumeState(
            step=self.step, tokens_seen=self.tokens_seen, elapsed=self.elapsed,
            best_val_loss=self.best_val_loss, peak_lr_override=self.peak_lr_override,
            optimizer=self.optimizer.state_dict(), rng=torch.get_rng_state(),
            batcher=self.batcher.state_dict(), world_size=self.world_size,
        ).to_dict()

    def _restore(self, start_state: LoadedCheckpoint | dict[str, Any]) -> None:
        if isinstance(start_state, LoadedCheckpoint):
            self._saved_path = str(start_state.info.path)
            start_state = start_state.train_state
        state = ResumeState.from_dict(start_state)
        self.step = self._saved_step = state.step
        self.tokens_seen, self.elapsed = state.tokens_seen, state.elapsed
        self.best_val_loss, self.peak_lr_override = state.best_val_loss, state.peak_lr_override
        try:
            self.optimizer.load_state_dict(state.optimizer)
            if self.rank == 0:
                self.batcher.load_state_dict(state.batcher)
                self._start_rng = state.rng
            else:  # only rank 0's position is saved
                seed = resumed_seed(self.config.seed, self.rank, self.step)
                self.batcher = RandomBatcher(self.batcher.tokens, self.block_size,
                                             self.config.batch_size, seed=seed)
                self._start_rng = torch.Generator().manual_seed(seed).get_state()
        except (KeyError, TypeError, ValueError, DatasetError) as exc:
            raise CheckpointError(f"The checkpoint's training state cannot be resumed here: "
                                  f"{exc}") from None

    # --- helpers ----------------------------------------------------------------------------

    def _emit(self, event: TrainEvent) -> TrainEvent:
        self._log(event)
        return event

    def _log(self, event: TrainEvent) -> None:
        if self.run is not None and self.rank == 0:
            self.run.log(event)

