"""Classification fine-tuning (the book's chapter 6): tokens, batches, loss, scores, predictions.

Each text becomes at most `max_length` token ids (longer texts are cut at the end and counted,
so a report can say how many lost their tail), padded on the right to `max_length` with the
end-of-text id. The real length is kept beside the ids: the head reads the last *real* token
(or averages the real ones), so padding never changes a prediction. By default `max_length` is
the longest training text, capped at the base model's context (`block_size`).

The loss is the cross-entropy of the class scores; accuracy is the share of examples whose
highest score is their class. At each evaluation the trainer gets the mean loss of the train
and val splits (the `Evaluator` seam) and an `AccuracyEvent`: the accuracy of every split and
the confusion matrix on the validation split. During training an evaluation reads at most
`eval_iters` batches of each split (the first ones, always the same); `split_scores` reads a
whole split, for the final figures.
Left out: reading the file (`labelled.py`), the model and its head (`model.py`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gptstudio.core.errors import ConfigError, DatasetError, TokenizerError
from gptstudio.core.finetune.batches import EpochBatches
from gptstudio.core.finetune.labelled import LabelledSplits, LabelledTexts
from gptstudio.core.train.evaluation import SplitLoss
from gptstudio.core.train.events import AccuracyEvent

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class EncodedTexts:
    """One split as arrays: padded ids (N, max_length), real lengths, class ids."""

    ids: np.ndarray
    lengths: np.ndarray
    targets: np.ndarray
    n_truncated: int  # texts cut to max_length

    def __len__(self) -> int:
        return len(self.targets)

    def batch(self, indices: np.ndarray) -> tuple[torch.Tensor, ...]:
        """(ids (B, max_length), lengths (B,), targets (B,)) int64 tensors."""
        return (torch.from_numpy(self.ids[indices]), torch.from_numpy(self.lengths[indices]),
                torch.from_numpy(self.targets[indices]))


@dataclass(frozen=True)
class ClassificationData:
    """A file's splits, encoded for one tokenizer and length."""

    labels: tuple[str, ...]
    max_length: int
    pad_id: int
    splits: dict[str, EncodedTexts]

    def summary(self) -> dict:
        """What the run records and a report shows: sizes, classes, truncation."""
        return {"labels": list(self.labels), "max_length": self.max_length,
                **{f"n_{name}": len(s) for name, s in self.splits.items()},
                **{f"truncated_{name}": s.n_truncated for name, s in self.splits.items()},
                "class_counts_train": np.bincount(self.splits["train"].targets,
                                                  minlength=len(self.labels)).tolist()}


def encode_text(tokenizer, text: str, *, where: str = "") -> list[int]:
    """Token ids of one text; DatasetError (saying where) if the tokenizer cannot encode it."""
    try:
        return tokenizer.encode_ordinary(text)
    except TokenizerError as exc:
        raise DatasetError(f"{where + ': ' if where else ''}the base run's tokenizer cannot "
                           f"encode this text: {exc} Fine-tune a base whose tokenizer covers "
                           "it (a BPE or GPT-2 tokenizer encodes any text).") from None


def pad_id_of(tokenizer) -> int:
    """What fills the space after a text: the end-of-text id (GPT-2's pad), else 0."""
    return tokenizer.eot_id if tokenizer.eot_id is not None else 0


def encode_classification(splits: LabelledSplits, tokenizer, *, block_size: int,
                          max_length: int | None = None) -> ClassificationData:
    """Tokenize, truncate and pad every split (see the module docstring)."""
    encoded = {name: [encode_text(tokenizer, text, where=f"{_name(part)}, line {line}")
                      for text, line in zip(part.texts, part.lines)]
               for name, part in (("train", splits.train), ("val", splits.val),
                                  ("test", splits.test))}
    if max_length is None:
        max_length = min(max(len(ids) for ids in encoded["train"]), block_size)
    elif isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ConfigError(f"The text length must be a whole number of tokens, got "
                          f"{max_length!r}.")
    elif max_length > block_size:
        raise ConfigError(f"Texts of {max_length} tokens are longer than the base model's "
                          f"context ({block_size} tokens): choose a length of at most "
                          f"{block_size}.")
    pad = pad_id_of(tokenizer)
    out = {}
    parts = {"train": splits.train, "val": splits.val, "test": splits.test}
    for name, rows in encoded.items():
        ids = np.full((len(rows), max_length), pad, dtype=np.int64)
        lengths = np.zeros(len(rows), dtype=np.int64)
        for i, row in enumerate(rows):
            row = row[:max_length]
            ids[i, :len(row)], lengths[i] = row, len(row)
        out[name] = EncodedTexts(ids, lengths, np.asarray(parts[name].targets, dtype=np.int64),
                                 sum(len(row) > max_length for row in rows))
    return ClassificationData(splits.labels, max_length, pad, out)


def _name(part: LabelledTexts) -> str:
    return part.source.replace("\\", "/").rsplit("/", 1)[-1] or "the data"


def classification_batches(data: ClassificationData, batch_size: int, *,
                           seed: int) -> EpochBatches:
    """The training split, shuffled epoch by epoch: (ids, lengths, targets) batches."""
    train = data.splits["train"]
    return EpochBatches(len(train), batch_size, seed=seed, collate=train.batch)


def classification_loss(forward: Callable, batch: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Cross-entropy of the class scores (the loss seam; `forward` is the FinetunedGPT)."""
    ids, lengths, targets = batch
    return F.cross_entropy(forward.classify(ids, lengths), targets)


@dataclass(frozen=True)
class SplitScores:
    """A classifier on (part of) one split: mean loss, accuracy, confusion counts."""

    loss: float
    accuracy: float
    confusion: np.ndarray  # (n_classes, n_classes): [true, predicted]
    n_examples: int


@torch.no_grad()
def split_scores(model: nn.Module, split: EncodedTexts, n_classes: int, *, batch_size: int,
                 max_batches: int | None = None,
                 autocast: Callable[[], AbstractContextManager] = contextlib.nullcontext,
                 ) -> SplitScores:
    """Loss, accuracy and confusion matrix on the first `max_batches` batches of `split` (all
    of it by default), in eval mode; the model's mode and the global RNG are left as they were."""
    n = len(split) if max_batches is None else min(len(split), max_batches * batch_size)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    if n == 0:
        return SplitScores(math.nan, math.nan, confusion, 0)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    loss_sum = 0.0
    try:
        with torch.random.fork_rng(devices=[]):
            for start in range(0, n, batch_size):
                ids, lengths, targets = (t.to(device) for t in
                                         split.batch(np.arange(start, min(n, start + batch_size))))
                with autocast():
                    logits = model.classify(ids, lengths).float()
                loss_sum += float(F.cross_entropy(logits, targets, reduction="sum"))
                predicted = logits.argmax(-1).cpu().numpy()
                np.add.at(confusion, (targets.cpu().numpy(), predicted), 1)
    finally:
        model.train(was_training)
    return SplitScores(loss_sum / n, float(np.trace(confusion)) / n, confusion, n)


class ClassifierEvaluator:
    """The trainer's `Evaluator` for a classifier (see the module docstring)."""

    def __init__(self, data: ClassificationData, *, batch_size: int, eval_iters: int,
                 autocast: Callable[[], AbstractContextManager] = contextlib.nullcontext
                 ) -> None:
        self.data, self.batch_size, self.eval_iters = data, batch_size, eval_iters
        self.autocast = autocast
        self._last: dict[str, SplitScores] | None = None

    def __call__(self, model: nn.Module) -> dict[str, SplitLoss]:
        n_classes = len(self.data.labels)
        self._last = {name: split_scores(model, split, n_classes, batch_size=self.batch_size,
                                         max_batches=self.eval_iters, autocast=self.autocast)
                      for name, split in self.data.splits.items()}
        # Perplexity and bits per byte mean nothing for class scores.
        return {name: SplitLoss(s.loss, math.nan, math.nan) for name, s in self._last.items()}

    def events(self, step: int) -> tuple[AccuracyEvent, ...]:
        if self._last is None:
            return ()
        scores = self._last
        return (AccuracyEvent(step=step, labels=self.data.labels,
                              train_accuracy=scores["train"].accuracy,
                              val_accuracy=scores["val"].accuracy,
                              test_accuracy=scores["test"].accuracy,
                              confusion=tuple(tuple(row) for row in
                                              scores["val"].confusion.tolist())),)


@dataclass(frozen=True)
class Prediction:
    """A classifier's answer for one text: the likeliest label and every label's probability."""

    label: str
    probabilities: dict[str, float]
    n_tokens: int
    truncated: bool  # the text was longer than the classifier's length and was cut


@torch.no_grad()
def classify_texts(model: nn.Module, tokenizer, texts: Sequence[str], labels: Sequence[str],
                   *, max_length: int) -> list[Prediction]:
    """Predictions for `texts` (each cut to `max_length` tokens, as in training)."""
    predictions = []
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        for text in texts:
            if not text.strip():
                raise DatasetError("There is no text to classify; type some.")
            ids = encode_text(tokenizer, text)
            kept = ids[:max_length]
            logits = model.classify(torch.tensor([kept], device=device),
                                    torch.tensor([len(kept)], device=device))
            probs = torch.softmax(logits.float()[0], dim=-1).cpu().tolist()
            best = max(range(len(labels)), key=lambda i: probs[i])
            predictions.append(Prediction(labels[best], dict(zip(labels, probs)), len(ids),
                                          len(ids) > max_length))
    finally:
        model.train(was_training)
    return predictions
