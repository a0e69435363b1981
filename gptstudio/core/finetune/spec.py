"""`FinetuneSpec`: what a fine-tune does, in one frozen, validated config the run folder keeps.

It says *what* is fine-tuned and *on what*: the task ("classification" | "instructions"), the
data file, which blocks train (`train_last`), LoRA or not, and the task's data options. *How*
(steps, batch size, learning rate, evaluation cadence) stays a `TrainConfig`, and the base run is
passed beside it (`prepare_finetune`). A run records `spec.to_dict()` in its data config, so a
resumed run rebuilds exactly the same data and model; the app's Fine-tune tab fills one in.

    >>> spec = FinetuneSpec("classification", "spam.tsv", train_last=1)
    >>> spec.val_fraction, spec.test_fraction  # the book's 70 / 10 / 20 split
    (0.1, 0.2)
    >>> FinetuneSpec.from_dict(spec.to_dict()) == spec
    True
    >>> FinetuneSpec("instructions", "data.json").val_fraction  # the book's 85 / 5 / 10
    0.05
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from gptstudio.core.errors import ConfigError
from gptstudio.core.finetune.lora import LoRAConfig
from gptstudio.core.finetune.model import POOLINGS
from gptstudio.core.finetune.template import TEMPLATES
from gptstudio.core.train.config import TrainConfig

Task = Literal["classification", "instructions"]
TASKS = ("classification", "instructions")
# How many last blocks train when nothing is said: the book's choices (None = all of them).
DEFAULT_TRAIN_LAST: dict[str, int | None] = {"classification": 1, "instructions": None}
_FRACTIONS = {"classification": (0.1, 0.2), "instructions": (0.05, 0.1)}  # (val, test)
# The book's fine-tuning settings: AdamW (0.9, 0.999), weight decay 0.1, batches of 8, a constant
# learning rate of 5e-5 (LoRA: 5e-4, its updates start at zero and are scaled by alpha / rank);
# evaluations of 5 batches every 50 (classification) or 5 (instructions) steps.
_TRAIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "classification": {"eval_interval": 50, "checkpoint_interval": 200},
    "instructions": {"eval_interval": 25, "checkpoint_interval": 200},
}
_COMMON = {"batch_size": 8, "weight_decay": 0.1, "beta1": 0.9, "beta2": 0.999,
           "warmup_steps": 0, "eval_iters": 5, "sample_interval": 0, "max_steps": 500}


def default_train_config(task: str, *, lora: bool = False, **overrides: Any) -> TrainConfig:
    """A TrainConfig with the book's fine-tuning settings for `task`, then `overrides`.

    The learning rate is constant (min_lr = learning_rate) unless min_lr is given.

    >>> cfg = default_train_config("classification", max_steps=100)
    >>> cfg.learning_rate, cfg.min_lr, cfg.batch_size, cfg.max_steps
    (5e-05, 5e-05, 8, 100)
    """
    if task not in TASKS:
        raise ConfigError(f"Unknown fine-tuning task {task!r}; choose {' or '.join(TASKS)}.")
    settings = {**_COMMON, **_TRAIN_DEFAULTS[task], "learning_rate": 5e-4 if lora else 5e-5,
                **overrides}
    settings.setdefault("min_lr", settings["learning_rate"])
    return TrainConfig.from_dict(settings)


@dataclass(frozen=True)
class FinetuneSpec:
    """task, data (a file path); train_last: the last N blocks (and the final norm) train,
    None = every weight, 0 = a classifier's head alone; with `lora`, the base is frozen and
    adapters go into those blocks. val_fraction / test_fraction: held-out shares (None = the
    task's default); split_seed: the split's shuffle.
    Classification: max_length (None = the longest training text, capped at the context),
    pooling ("last" real token or "mean"), balance (undersample to the smallest class).
    Instructions: template ("alpaca", "phi3"), mask_prompt (the loss counts only responses)."""

    task: Task
    data: str
    train_last: int | None = None
    lora: LoRAConfig | None = None
    val_fraction: float | None = None
    test_fraction: float | None = None
    split_seed: int = 123
    max_length: int | None = None
    pooling: str = "last"
    balance: bool = False
    template: str = "alpaca"
    mask_prompt: bool = True

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ConfigError(f"Unknown fine-tuning task {self.task!r}; choose "
                              f"{' or '.join(TASKS)}.")
        if not isinstance(self.data, str) or not self.data:
            raise ConfigError("Choose a data file to fine-tune on.")
        if self.train_last is not None and (isinstance(self.train_last, bool) or not
                                            isinstance(self.train_last, int)
                                            or self.train_last < 0):
            raise ConfigError(f"train_last must be a whole number of blocks (0 or more) or "
                              f"None for all, got {self.train_last!r}.")
        val, test = _FRACTIONS[self.task]
        object.__setattr__(self, "val_fraction", val if self.val_fraction is None
                           else float(self.val_fraction))
        object.__setattr__(self, "test_fraction", test if self.test_fraction is None
                           else float(self.test_fraction))
        if self.pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got "
                              f"{self.pooling!r}.")
        if self.template not in TEMPLATES:
            raise ConfigError(f"Unknown prompt template {self.template!r}; choose one of "
                              f"{', '.join(TEMPLATES)}.")
        if self.max_length is not None and (isinstance(self.max_length, bool) or not
                                            isinstance(self.max_length, int)
                                            or self.max_length < 1):
            raise ConfigError(f"max_length must be a whole number of tokens, got "
                              f"{self.max_length!r}.")
        if isinstance(self.split_seed, bool) or not isinstance(self.split_seed, int):
            raise ConfigError(f"split_seed must be a whole number, got {self.split_seed!r}.")

    @property
    def method(self) -> str:
        """"lora" or "full" (which may still freeze blocks)."""
        return "lora" if self.lora is not None else "full"

    def replace(self, **changes: Any) -> FinetuneSpec:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["lora"] = self.lora.to_dict() if self.lora is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FinetuneSpec:
        """Inverse of `to_dict`; ConfigError for unknown or bad fields."""
        if not isinstance(d, dict):
            raise ConfigError("A fine-tuning spec must be read from a mapping.")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"Unknown fine-tuning setting(s): {', '.join(unknown)}.")
        d = dict(d)
        if d.get("lora") is not None:
            d["lora"] = LoRAConfig.from_dict(d["lora"])
        try:
            return cls(**d)
        except TypeError as exc:  # a required field is missing
            raise ConfigError(f"A fine-tuning spec is incomplete ({exc}).") from None
