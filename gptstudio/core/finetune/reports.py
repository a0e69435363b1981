"""Using a finished (or paused) fine-tune: classify texts, measure it, answer held-out records.

- `load_classifier(run)` -> a `Classifier` whose `predict(text)` gives the likeliest label and
  every label's probability (the CLI's `gptstudio classify`, the app's "try it" box);
- `classification_report(run)`: loss, accuracy and confusion matrix of every split, each
  read whole (training's evaluations read a few batches);
- `held_out_responses(run)`: the model's greedy response to every held-out (test) record beside
  its reference, with the response loss and the overlap score, written to `responses.json`;
- `finetune_val_loss(run)`: the validation loss as the trainer measures it (what `gptstudio
  eval` prints for a fine-tune).
Each reads the run's latest checkpoint with any LoRA adapter merged. Left out: training
(`prepare.py`), the scores themselves (`classification.py`, `instructions.py`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from torch import nn

from gptstudio.core.errors import ConfigError
from gptstudio.core.finetune.classification import (
    SPLITS,
    ClassificationData,
    Prediction,
    classify_texts,
    split_scores,
)
from gptstudio.core.finetune.files import write_responses
from gptstudio.core.finetune.instructions import (
    InstructionData,
    ResponseReport,
    response_loss,
    score_responses,
)
from gptstudio.core.finetune.prepare import load_finetuned


@dataclass
class Classifier:
    """A fine-tuned classifier, loaded once, for many predictions."""

    model: nn.Module
    tokenizer: object
    labels: tuple[str, ...]
    max_length: int

    def predict(self, text: str) -> Prediction:
        """The likeliest label of `text` and every label's probability."""
        return classify_texts(self.model, self.tokenizer, [text], self.labels,
                              max_length=self.max_length)[0]


def load_classifier(run_dir: str | os.PathLike) -> Classifier:
    """The classifier of a classification fine-tune; ConfigError for another kind of run."""
    run, model, tokenizer, _ = load_finetuned(run_dir)
    if run.data_config.get("task") != "classification":
        raise ConfigError(f"The run {run.path.name} is not a classifier (its task is "
                          f"{run.data_config.get('task')!r}); pick a classification fine-tune.")
    return Classifier(model, tokenizer, tuple(run.data_config["labels"]),
                      int(run.data_config["max_length"]))


@dataclass(frozen=True)
class ClassificationReport:
    """A classifier's figures on every split, each read whole."""

    labels: tuple[str, ...]
    loss: dict[str, float]
    accuracy: dict[str, float]
    confusion: dict[str, np.ndarray]  # [true, predicted] counts
    n_examples: dict[str, int]


def classification_report(run_dir: str | os.PathLike, *, batch_size: int = 32
                          ) -> ClassificationReport:
    """Loss, accuracy and confusion of the run's classifier on train, val and test."""
    run, model, _, data = load_finetuned(run_dir, data=True)
    if not isinstance(data, ClassificationData):
        raise ConfigError(f"The run {run.path.name} is not a classifier.")
    scores = {name: split_scores(model, data.splits[name], len(data.labels),
                                 batch_size=batch_size) for name in SPLITS}
    return ClassificationReport(data.labels, {n: s.loss for n, s in scores.items()},
                                {n: s.accuracy for n, s in scores.items()},
                                {n: s.confusion for n, s in scores.items()},
                                {n: s.n_examples for n, s in scores.items()})


def held_out_responses(run_dir: str | os.PathLike, *, split: str = "test",
                       max_new_tokens: int = 128, limit: int | None = None, write: bool = True,
                       progress: Callable[[int, int], None] | None = None) -> ResponseReport:
    """The model's responses to the held-out records, scored; saved in the run unless
    `write=False` (see the module docstring)."""
    run, model, tokenizer, data = load_finetuned(run_dir, data=True)
    if not isinstance(data, InstructionData):
        raise ConfigError(f"The run {run.path.name} is not an instruction fine-tune.")
    if split not in data.splits or not len(data.splits[split]):
        raise ConfigError(f"The run's {split} split holds no records to answer.")
    report = score_responses(model, tokenizer, data, split=split,
                             max_new_tokens=max_new_tokens, limit=limit, progress=progress)
    if write:
        write_responses(run.responses_path, report)
    return report


def finetune_val_loss(run_dir: str | os.PathLike, *, batch_size: int = 32) -> tuple[float, int]:
    """(mean validation loss, tokens of the split: its texts' / the responses counted)."""
    _, model, _, data = load_finetuned(run_dir, data=True)
    if isinstance(data, ClassificationData):
        val_texts = data.splits["val"]
        s = split_scores(model, val_texts, len(data.labels), batch_size=batch_size)
        return s.loss, int(val_texts.lengths.sum())
    assert data is not None
    val = data.splits["val"]
    return response_loss(model, val, batch_size=batch_size), val.n_targets()
