"""Instruction fine-tuning (the book's chapter 7): tokens, masked targets, batches, scores.

A record becomes one token sequence: the prompt (the template filled with its instruction and
input), the response (its output), then one end-of-text token, so the model learns to stop.
Training is next-token prediction on that sequence, as in pretraining, with two changes:
- **masked targets**: a target of -1 is ignored by the model's loss, so setting the targets of
  the prompt's tokens to -1 makes the loss (and every gradient) count only the response: the
  model is taught to answer, not to write requests (`mask_prompt=False` counts the prompt too);
- **padding per batch**: sequences differ in length, so each batch is padded to its own longest
  one (inputs with the end-of-text id, targets with -1: padding teaches nothing), not to a
  fixed length. The end-of-text token *after* the response stays a target.
A sequence longer than the base model's context (`block_size`) loses the end of its response
(counted); a prompt that alone fills the context cannot be trained on and is an error.

At each evaluation the trainer gets the mean loss per response token of a fixed set of train and
val batches (`ResponseEvaluator`). For the held-out (test) records, `score_responses` generates
each response greedily, and scores it against the reference without a judge model: the
response loss of the reference (how likely the model finds it) and a token-overlap F1 (the
words the two share, as in SQuAD's metric).
Left out: reading records (`records.py`), the template (`template.py`), files (`files.py`).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gptstudio.core.errors import DatasetError
from gptstudio.core.finetune.batches import EpochBatches
from gptstudio.core.finetune.classification import encode_text
from gptstudio.core.finetune.records import RecordSplits
from gptstudio.core.finetune.template import ALPACA_TEMPLATE, PromptTemplate
from gptstudio.core.train.evaluation import SplitLoss

IGNORE = -1  # the target the model's loss skips (GPT.forward: ignore_index=-1)


@dataclass(frozen=True)
class EncodedRecords:
    """One split's sequences: prompt + response + end-of-text ids, and each prompt's length."""

    sequences: tuple[np.ndarray, ...]
    prompt_lengths: tuple[int, ...]
    pad_id: int
    mask_prompt: bool
    n_truncated: int

    def __len__(self) -> int:
        return len(self.sequences)

    def batch(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets), each (B, longest - 1) int64, padded and masked (module docstring)."""
        chosen = [self.sequences[i] for i in indices]
        width = max(len(s) for s in chosen) - 1
        x = torch.full((len(chosen), width), self.pad_id, dtype=torch.int64)
        y = torch.full((len(chosen), width), IGNORE, dtype=torch.int64)
        for row, i in enumerate(indices):
            seq = torch.from_numpy(self.sequences[i])
            n = len(seq) - 1
            x[row, :n], y[row, :n] = seq[:-1], seq[1:]
            if self.mask_prompt:
                # y[j] is the token after x[j]: the prompt's own tokens are y[: prompt - 1].
                y[row, : self.prompt_lengths[i] - 1] = IGNORE
        return x, y

    def n_targets(self) -> int:
        """Tokens the loss counts over the whole split."""
        skipped = sum(p - 1 for p in self.prompt_lengths) if self.mask_prompt else 0
        return sum(len(s) - 1 for s in self.sequences) - skipped


@dataclass(frozen=True)
class InstructionData:
    template: PromptTemplate
    splits: dict[str, EncodedRecords]
    records: RecordSplits

    def summary(self) -> dict:
        return {**{f"n_{name}": len(s) for name, s in self.splits.items()},
                **{f"truncated_{name}": s.n_truncated for name, s in self.splits.items()},
                "template": self.template.name}


def encode_records(splits: RecordSplits, tokenizer, *, block_size: int,
                   template: PromptTemplate = ALPACA_TEMPLATE, mask_prompt: bool = True,
                   source: str = "") -> InstructionData:
    """Tokenize every split (see the module docstring); DatasetError saying which record."""
    eot = tokenizer.eot_id
    if eot is None:
        raise DatasetError("The base run's tokenizer has no end-of-text token to end each "
                           "response with; fine-tune a base whose tokenizer has <|endoftext|>.")
    out = {}
    for name, records in splits.parts().items():
        sequences, prompt_lengths, truncated = [], [], 0
        for record in records:
            where = f"{source}, line {record.line}" if source else f"line {record.line}"
            prompt = encode_text(tokenizer, template.format(record.instruction, record.input),
                                 where=where)
            response = encode_text(tokenizer, record.output, where=where)
            if len(prompt) >= block_size:
                raise DatasetError(
                    f"{where}: the record's prompt is {len(prompt)} tokens, but the base model "
                    f"reads {block_size} at once, which leaves no room for its response. "
                    "Shorten or remove the record, or fine-tune a base with a longer context.")
            seq = prompt + response + [eot]
            if len(seq) - 1 > block_size:  # inputs are seq[:-1]: at most block_size of them
                seq, truncated = seq[: block_size + 1], truncated + 1
            sequences.append(np.asarray(seq, dtype=np.int64))
            prompt_lengths.append(len(prompt))
        out[name] = EncodedRecords(tuple(sequences), tuple(prompt_lengths), eot, mask_prompt,
                                   truncated)
    return InstructionData(template, out, splits)


def instruction_batches(data: InstructionData, batch_size: int, *, seed: int) -> EpochBatches:
    """The training split, shuffled epoch by epoch: (inputs, masked targets) batches."""
    train = data.splits["train"]
    return EpochBatches(len(train), batch_size, seed=seed, collate=train.batch)


@torch.no_grad()
def response_loss(model: nn.Module, split: EncodedRecords, *, batch_size: int,
                  max_batches: int | None = None,
                  autocast: Callable[[], AbstractContextManager] = contextlib.nullcontext
                  ) -> float:
    """Mean loss per counted target token over the first `max_batches` batches (all by
    default), in eval mode, the global RNG left alone; NaN for an empty split."""
    n = len(split) if max_batches is None else min(len(split), max_batches * batch_size)
    if n == 0:
        return math.nan
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    try:
        with torch.random.fork_rng(devices=[]):
            for start in range(0, n, batch_size):
                x, y = (t.to(device) for t in split.batch(range(start, min(n, start + batch_size))))
                with autocast():
                    loss = model(x, y).loss.float()
                k = int((y != IGNORE).sum())  # the loss is a mean over these
                total, count = total + float(loss) * k, count + k
    finally:
        model.train(was_training)
    return total / count if count else math.nan


class ResponseEvaluator:
    """The trainer's `Evaluator` for instructions: response loss on fixed train/val batches."""

    def __init__(self, data: InstructionData, *, batch_size: int, eval_iters: int,
                 autocast: Callable[[], AbstractContextManager] = contextlib.nullcontext
                 ) -> None:
        self.data, self.batch_size, self.eval_iters = data, batch_size, eval_iters
        self.autocast = autocast

    def __call__(self, model: nn.Module) -> dict[str, SplitLoss]:
        out = {}
        for name in ("train", "val"):
            loss = response_loss(model, self.data.splits[name], batch_size=self.batch_size,
                                 max_batches=self.eval_iters, autocast=self.autocast)
            out[name] = SplitLoss(loss, math.exp(loss) if loss < 700 else math.inf, math.nan)
        return out

    def events(self, step: int) -> tuple:
        return ()


# --- held-out responses ----------------------------------------------------------------------


def overlap_f1(response: str, reference: str) -> float:
    """Word-overlap F1 of a response against its reference (SQuAD's token F1: lowercase,
    punctuation dropped, words counted with repeats).

    >>> overlap_f1("The capital is Paris.", "Paris is the capital of France.")
    0.8
    >>> overlap_f1("", "Paris")
    0.0
    """
    a, b = _words(response), _words(reference)
    common = sum((Counter(a) & Counter(b)).values())
    if not common:
        return 0.0
    precision, recall = common / len(a), common / len(b)
    return round(2 * precision * recall / (precision + recall), 10)


def _words(text: str) -> list[str]:
    return re.sub(r"[^\w\s]", " ", text.lower()).split()


@dataclass(frozen=True)
class ScoredResponse:
    instruction: str
    input: str
    reference: str
    response: str
    overlap_f1: float


@dataclass(frozen=True)
class ResponseReport:
    """Held-out records answered: each response beside its reference, and the run's scores."""

    split: str
    responses: tuple[ScoredResponse, ...]
    response_loss: float  # mean loss per reference response token (masked like training)
    mean_overlap_f1: float

    def to_dict(self) -> dict:
        return {"split": self.split, "response_loss": self.response_loss,
                "mean_overlap_f1": self.mean_overlap_f1,
                "responses": [r.__dict__ for r in self.responses]}


def score_responses(model: nn.Module, tokenizer, data: InstructionData, *, split: str = "test",
                    max_new_tokens: int = 128, batch_size: int = 8, limit: int | None = None,
                    progress: Callable[[int, int], None] | None = None) -> ResponseReport:
    """Generate (greedily) a response to each held-out record of `split` and score it."""
    from gptstudio.core.sampling import SamplingConfig, generate  # imports the model package

    records = data.records.parts()[split][:limit]
    encoded = data.splits[split]
    if limit is not None:
        encoded = EncodedRecords(encoded.sequences[:limit], encoded.prompt_lengths[:limit],
                                 encoded.pad_id, True, encoded.n_truncated)
    # Masked like training: the loss of the reference responses alone.
    loss = response_loss(model, EncodedRecords(encoded.sequences, encoded.prompt_lengths,
                                               encoded.pad_id, True, encoded.n_truncated),
                         batch_size=batch_size)
    config = SamplingConfig(max_new_tokens=max_new_tokens, temperature=0.0, n_alternatives=0,
                            stop_strings=("\n\n###",))  # the model starting a new section
    scored = []
    for i, (record, seq, n_prompt) in enumerate(zip(records, encoded.sequences,
                                                    encoded.prompt_lengths)):
        with torch.random.fork_rng(devices=[]):
            text = generate(model, tokenizer, [int(t) for t in seq[:n_prompt]], config).strip()
        scored.append(ScoredResponse(record.instruction, record.input, record.output, text,
                                     overlap_f1(text, record.output)))
        if progress is not None:
            progress(i + 1, len(records))
    mean_f1 = float(np.mean([s.overlap_f1 for s in scored])) if scored else math.nan
    return ResponseReport(split, tuple(scored), loss, mean_f1)
