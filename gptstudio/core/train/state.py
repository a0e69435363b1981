"""What a checkpoint holds besides the weights, so that a run continues exactly.

Exact resume needs, as of the last completed step: the step count (the schedule is a function of
it), AdamW's moment estimates, the data position (the batcher's generator state) and the global RNG
state (dropout); on a GPU also the GPU's RNG state (dropout there draws from it) and, for fp16, the
GradScaler's state (its scale and growth tracker: without it a resumed run starts from the initial
scale and skips steps re-calibrating it). Both are absent from checkpoints of CPU runs and of older
versions; a run resumed elsewhere ignores what its device does not use. Everything is stored as
tensors and plain values, so the file loads with `torch.load(weights_only=True)`; the batcher state
goes in as JSON text because its generator state holds integers wider than any tensor dtype.
`DataPosition` is the part that moves inside a step: the trainer captures it before each step and
puts it back if the step is abandoned half-way.
Left out: writing the file (`checkpoint.py`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import torch

from gptstudio.core.errors import CheckpointError

STATE_VERSION = 1


@dataclass(frozen=True)
class ResumeState:
    """The training state between two steps (see the module docstring)."""

    step: int
    tokens_seen: int
    elapsed: float  # seconds of training so far
    best_val_loss: float | None
    peak_lr_override: float | None  # from TrainControl.set_learning_rate, kept across resumes
    optimizer: dict[str, Any]  # optimizer.state_dict()
    rng: torch.Tensor  # torch.get_rng_state()
    batcher: dict[str, Any]  # RandomBatcher.state_dict()
    world_size: int = 1
    grad_scaler: dict[str, Any] | None = None  # GradScaler.state_dict() of an fp16 run
    cuda_rng: torch.Tensor | None = None  # torch.cuda.get_rng_state(device) of a run on a GPU

    def to_dict(self) -> dict[str, Any]:
        """Tensors and plain values only (for torch.save / torch.load(weights_only=True))."""
        extra = {key: value for key, value in (("grad_scaler", self.grad_scaler),
                                               ("cuda_rng", self.cuda_rng)) if value is not None}
        return {
            **extra,
            "version": STATE_VERSION,
            "step": self.step,
            "tokens_seen": self.tokens_seen,
            "elapsed": self.elapsed,
            "best_val_loss": self.best_val_loss,
            "peak_lr_override": self.peak_lr_override,
            "optimizer": self.optimizer,
            "rng": self.rng,
            "batcher": json.dumps(self.batcher),
            "world_size": self.world_size,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ResumeState:
        """Inverse of `to_dict`; CheckpointError saying what is wrong with a bad state."""
        if not isinstance(d, dict):
            raise CheckpointError("The checkpoint's training state is not a mapping.")
        if d.get("version") != STATE_VERSION:
            raise CheckpointError(
                f"The checkpoint's training state has an unknown version {d.get('version')!r}."
            )
        try:
            state = cls(
                step=int(d["step"]),
                tokens_seen=int(d["tokens_seen"]),
                elapsed=float(d["elapsed"]),
                best_val_loss=None if d["best_val_loss"] is None else float(d["best_val_loss"]),
                peak_lr_override=None if d["peak_lr_override"] is None
                else float(d["peak_lr_override"]),
                optimizer=d["optimizer"],
                rng=d["rng"],
                batcher=json.loads(d["batcher"]),
                world_size=int(d.get("world_size", 1)),
                grad_scaler=d.get("grad_scaler"),
                cuda_rng=d.get("cuda_rng"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(
                f"The checkpoint's training state is incomplete or damaged ({exc!r})."
            ) from None
        if not isinstance(state.optimizer, dict) or not isinstance(state.rng, torch.Tensor):
            raise CheckpointError("The checkpoint's training state is damaged (optimizer/RNG).")
        if not isinstance(state.grad_scaler, (dict, type(None))) or \
                not isinstance(state.cuda_rng, (torch.Tensor, type(None))):
            raise CheckpointError("The checkpoint's training state is damaged (GradScaler or "
                                  "GPU RNG).")
        if state.step < 0:
            raise CheckpointError(f"The checkpoint's step is negative ({state.step}).")
        return state


@dataclass(frozen=True)
class DataPosition:
    """Where the data stream and the global RNG stand between two steps."""

    batcher: dict[str, Any]
    rng: torch.Tensor

    @classmethod
    def capture(cls, batcher: Any) -> DataPosition:
        return cls(batcher=batcher.state_dict(), rng=torch.get_rng_state())

    def restore(self, batcher: Any) -> None:
        batcher.load_state_dict(self.batcher)
        torch.set_rng_state(self.rng)
