"""`TrainConfig`: every knob of a training run, checked when the config is made.

A training config says *how* to train (steps, batch, learning-rate schedule, regularisation,
evaluation and checkpoint cadence, precision) and nothing about *what* is trained (the model
config) or *on what* (the data config). It is a frozen dataclass: a run's config never changes
under it, and `replace(**changes)` makes a validated copy. Impossible values raise `ConfigError`
with a sentence naming the field. Left out: the schedule itself (`schedule.py`) and the loop
(`trainer.py`).

The defaults are nanoGPT's classic CPU "baby GPT" run on tiny Shakespeare (its published val loss
is about 1.88; ours: docs/MEASUREMENTS.md):

    >>> cfg = TrainConfig()
    >>> cfg.max_steps, cfg.batch_size, cfg.learning_rate, cfg.warmup_steps
    (2000, 12, 0.001, 100)
    >>> TrainConfig.from_dict(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal

from gptstudio.core.errors import ConfigError

Precision = Literal["auto", "fp32", "bf16", "fp16"]
CompileMode = Literal["auto", "on", "off"]

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
COMPILE_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class TrainConfig:
    """How to train.

    max_steps: optimizer steps in the whole run (a resumed run continues up to it).
    batch_size: sequences per micro-batch; one step sees batch_size * grad_accum sequences.
    learning_rate, min_lr: the peak and the floor of the schedule (linear warmup over
        warmup_steps, then cosine decay to min_lr at lr_decay_steps, which defaults to max_steps).
    weight_decay: AdamW's decoupled decay, applied to weight matrices only (see optimizer.py).
    beta1, beta2: AdamW's moment decay rates. (0.8, 0.999) rather than nanoGPT's (0.9, 0.99):
        a shorter memory for the gradient and a longer one for its scale suit these small, noisy
        batches, and reached the lowest validation loss on the classic run (the comparison is in
        docs/MEASUREMENTS.md).
    grad_clip: clip the global gradient norm to this value; 0 turns clipping off.
    grad_accum: micro-batches whose gradients are summed before one optimizer step.
    eval_interval: evaluate train/val loss every this many steps (0: never, except at the end).
    eval_iters: batches averaged per split in an evaluation.
    sample_interval: generate a text sample every this many steps (0: never).
    sample_prompt, sample_tokens, sample_temperature: what the periodic samples look like
        (temperature 0 is greedy); the sampling seed is `seed`, so samples are comparable.
    checkpoint_interval: save every this many steps (0: only at the end); needs a run folder.
    keep_last: checkpoints kept besides the best-validation one.
    val_fraction: the share of the corpus held out for validation (the tail, by position).
    seed: seeds the data order, dropout and the samples (each rank adds its rank).
    precision: "bf16" runs matmuls under bfloat16 autocast ("fp16": float16 with a gradient
        scaler, for GPUs without bf16); "auto" picks what is fastest on the device.
    compile: "on" wraps the model in torch.compile; "auto" picks what pays off here.
    max_nonfinite: stop after this many steps in a row with a NaN/inf loss or gradient.
    device: where to train: "auto" (CUDA, else MPS, else CPU), "cpu", "cuda", "cuda:N" or
        "mps" (`device.py`); a run's checkpoints load on any device.
    """

    max_steps: int = 2000
    batch_size: int = 12
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    lr_decay_steps: int | None = None
    weight_decay: float = 0.1
    beta1: float = 0.8
    beta2: float = 0.999
    grad_clip: float = 1.0
    grad_accum: int = 1
    eval_interval: int = 250
    eval_iters: int = 200
    sample_interval: int = 500
    sample_prompt: str = "\n"
    sample_tokens: int = 200
    sample_temperature: float = 0.8
    checkpoint_interval: int = 500
    keep_last: int = 3
    val_fraction: float = 0.1
    seed: int = 1337
    precision: Precision = "auto"
    compile: CompileMode = "auto"
    max_nonfinite: int = 5
    device: str = "auto"

    def __post_init__(self) -> None:
        for name in ("max_steps", "batch_size", "grad_accum", "eval_iters", "sample_tokens",
                     "keep_last", "max_nonfinite"):
            _check_int(name, getattr(self, name), minimum=1)
        for name in ("warmup_steps", "eval_interval", "sample_interval", "checkpoint_interval",
                     "seed"):
            _check_int(name, getattr(self, name), minimum=0)
        if self.seed > MAX_SEED:  # torch's generators take 64 bits; ranks and evals add to it
            raise ConfigError(f"seed must be at most {MAX_SEED:,} (2**62 - 1), got "
                              f"{self.seed:,}.")
        if self.lr_decay_steps is not None:
            _check_int("lr_decay_steps", self.lr_decay_steps, minimum=1)
        check_learning_rate(self.learning_rate)
        _check_number("min_lr", self.min_lr)
        if not 0 <= self.min_lr <= self.learning_rate:
            raise ConfigError(
                f"min_lr must be between 0 and learning_rate ({self.learning_rate}), "
                f"got {self.min_lr}."
            )
        for name in ("weight_decay", "grad_clip", "sample_temperature"):
            _check_number(name, getattr(self, name))
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, got {getattr(self, name)}.")
        for name in ("beta1", "beta2"):
            _check_number(name, getattr(self, name))
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"{name} must be in [0, 1), got {getattr(self, name)}.")
        _check_number("val_fraction", self.val_fraction)
        if not 0 < self.val_fraction < 1:
            raise ConfigError(f"val_fraction must be between 0 and 1, got {self.val_fraction}.")
        if not isinstance(self.sample_prompt, str):
            raise ConfigError(f"sample_prompt must be text, got {self.sample_prompt!r}.")
        if self.precision not in PRECISIONS:
            raise ConfigError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}."
            )
        if self.compile not in COMPILE_MODES:
            raise ConfigError(
                f"compile must be one of {', '.join(COMPILE_MODES)}, got {self.compile!r}."
            )

        from gptstudio.core.train.device import check_device_spec  # device.py imports torch

        check_device_spec(self.device)

    @property
    def decay_steps(self) -> int:
        """The step at which the cosine reaches min_lr."""
        return self.lr_decay_steps if self.lr_decay_steps is not None else self.max_steps

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (validated again; unknown names raise ConfigError)."""
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of every field."""
        return dataclasses.asdict(self)

    def warnings(self) -> list[str]:
        """Settings that are valid but almost surely not meant (the Trainer reports them as
        WarningEvents at its start), e.g. a warmup longer than the whole run."""
        found = []
        if self.warmup_steps > self.max_steps:
            found.append(
                f"warmup_steps ({self.warmup_steps:,}) is more than max_steps "
                f"({self.max_steps:,}): the learning rate rises for the whole run and ends at "
                f"about {self.max_steps / self.warmup_steps:.0%} of its peak "
                f"({self.learning_rate:g}). Lower warmup_steps (e.g. to "
                f"{max(1, self.max_steps // 10):,}) to train at the rate asked for.")
        return found

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of `to_dict`. Missing fields take their defaults; unknown ones raise."""
        if not isinstance(d, dict):
            raise ConfigError(f"A TrainConfig must be read from a mapping, got {type(d).__name__}.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(
                f"Unknown training setting(s): {', '.join(unknown)}. "
                f"Known settings: {', '.join(sorted(known))}."
            )
        return cls(**d)


def _check_int(name: str, value: Any, *, minimum: int) -> None:
    # bool is a subclass of int: `max_steps=True` is a mistake, not one step.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, got {value!r}.")
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}.")


MAX_LEARNING_RATE = 1.0  # far above any rate AdamW trains with: a bigger one is a typo
MAX_SEED = 2**62 - 1


def check_learning_rate(value: Any, name: str = "learning_rate") -> float:
    """`value` as a (peak) learning rate, or ConfigError naming `name`. One rule for the training
    config, a peak changed mid-run (`TrainControl`) and the app's fields."""
    _check_number(name, value)
    if value <= 0:
        raise ConfigError(f"{name} must be above 0, got {value}.")
    if value > MAX_LEARNING_RATE:
        raise ConfigError(f"{name} must be at most {MAX_LEARNING_RATE:g}, got {value}.")
    return float(value)


def _check_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r}.")
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value}.")
