"""The trainer's checkpoints: saving one now, the training state it holds, and resuming from it.

Exact resume: a checkpoint holds the weights, AdamW's moments, the data position and the RNG state
(the GPU's too, and fp16's GradScaler state: state.py) *as of the last completed step* (a step
abandoned half-way is redone), and the schedule is a function of the step, so a resumed run
continues bit for bit (on CPU). Only rank 0's data position is saved; other ranks re-seed from the
step (see distributed.py).
`Trainer` mixes this in; it uses only the trainer's own attributes, named below.
Left out: the checkpoint files themselves (checkpoint.py) and the loop (trainer.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from gptstudio.core.errors import CheckpointError, DatasetError, TrainingError
from gptstudio.core.train.checkpoint import save_checkpoint
from gptstudio.core.train.checkpoint_load import LoadedCheckpoint
from gptstudio.core.train.config import TrainConfig
from gptstudio.core.train.distributed import resumed_seed
from gptstudio.core.train.events import CheckpointEvent, TrainEvent
from gptstudio.core.train.state import ResumeState
from gptstudio.core.train.task import BatchSource, TrainTask

if TYPE_CHECKING:
    from gptstudio.core.tokenizers import Tokenizer
    from gptstudio.core.train.run import Run


class CheckpointingMixin:
    """Checkpoints of a `Trainer` (see the module docstring)."""

    # The trainer's attributes this uses.
    model: nn.Module
    tokenizer: Tokenizer
    config: TrainConfig
    run: Run | None
    rank: int
    world_size: int
    optimizer: torch.optim.Optimizer
    task: TrainTask
    batcher: BatchSource
    step: int
    tokens_seen: int
    elapsed: float
    best_val_loss: float | None
    peak_lr_override: float | None
    _start_rng: torch.Tensor | None
    _start_cuda_rng: torch.Tensor | None  # the GPU's RNG state to resume with, if saved
    _scaler: torch.amp.GradScaler | None
    device: torch.device
    _saved_step: int | None
    _saved_path: str | None
    _last_eval: tuple[int, float] | None
    _emit: Callable[[TrainEvent], TrainEvent]  # logs the event to the run and returns it

    def _checkpoint(self) -> Iterator[TrainEvent]:
        if self.run is not None and self.rank == 0:
            yield self.save_checkpoint()

    def save_checkpoint(self) -> CheckpointEvent:
        """Save a checkpoint of the current step now, log it to the run and return its event.

        Call it between steps from the thread that iterates `events()`: after a StepEvent, or
        while paused (the "paused" StatusEvent was yielded and the loop waits); from any other
        thread, use `control.request_checkpoint()` and the loop calls this. The checkpoint
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
        if self.task.on_checkpoint is not None:
            self.task.on_checkpoint(info)
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
            grad_scaler=self._scaler.state_dict() if self._scaler is not None else None,
            cuda_rng=torch.cuda.get_rng_state(self.device) if self.device.type == "cuda"
            else None,
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
            if self._scaler is not None and state.grad_scaler:  # fp16 on fp16: its scale
                self._scaler.load_state_dict(state.grad_scaler)
            if self.rank == 0:
                self.batcher.load_state_dict(state.batcher)
                self._start_rng = state.rng
                self._start_cuda_rng = state.cuda_rng
            else:  # only rank 0's position is saved
                seed = resumed_seed(self.config.seed, self.rank, self.step)
                if self.task.reseed is None:
                    raise TrainingError("This training task runs on one process only.")
                self.batcher = self.task.reseed(seed)
                self._start_rng = torch.Generator().manual_seed(seed).get_state()
        except (KeyError, TypeError, ValueError, DatasetError) as exc:
            raise CheckpointError(f"The checkpoint's training state cannot be resumed here: "
                                  f"{exc}") from None
