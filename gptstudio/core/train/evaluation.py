"""Measuring a model on held-out text: mean loss, perplexity and bits per byte.

The loss of one batch is noisy, so an evaluation averages `eval_iters` random batches. They are
drawn by a batcher with a fixed seed, so every evaluation of a run sees the *same* windows: the
curve then shows the model changing, not the sample, and a resumed run evaluates exactly as the
uninterrupted one. Evaluation runs in eval mode (no dropout) without gradients, and does not touch
the global random state that training uses.

Bits per byte turn a loss per token into a number comparable across tokenizers (see
`gptstudio.core.data.metrics`); the bytes a split stands for are counted from the tokenizer's
bytes of each id. `SplitEvaluator` puts it together for the trainer and the CLI's `eval`.

`full_pass_loss` is the exact alternative: it walks *every* window of the sliding-window dataset
(windows every `stride` tokens) and scores each target token once. With stride < block_size
windows overlap; a window then scores only the targets the previous one did not (its last
`stride`), so every token but those of the first window is predicted with at least
block_size - stride tokens of context: a smaller stride costs more forward passes and gives a
loss closer to what the model does with a full context.
Left out: when to evaluate (`trainer.py`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from gptstudio.core.data import RandomBatcher, SlidingWindowDataset, bits_per_byte, perplexity
from gptstudio.core.errors import Cancelled, DatasetError


def token_byte_lengths(tokenizer: Any) -> np.ndarray:
    """UTF-8 length of every id's bytes, indexable by token id (unassigned ids count 0)."""
    lengths = np.zeros(tokenizer.vocab_size, dtype=np.int64)
    for token_id in range(tokenizer.vocab_size):
        try:
            lengths[token_id] = len(tokenizer.token_bytes(token_id))
        except Exception:  # noqa: BLE001 - e.g. a gap in a tiktoken vocabulary
            lengths[token_id] = 0
    return lengths


def count_bytes(tokens: np.ndarray, byte_lengths: np.ndarray) -> int:
    """How many bytes of text a row of token ids stands for (chunked: tokens may be huge)."""
    total = 0
    chunk = 1 << 22
    for start in range(0, len(tokens), chunk):
        total += int(byte_lengths[np.asarray(tokens[start : start + chunk])].sum())
    return total


@torch.no_grad()
def estimate_loss(
    model: nn.Module,
    tokens: np.ndarray,
    *,
    block_size: int,
    batch_size: int,
    iters: int,
    seed: int,
    autocast: Callable[[], AbstractContextManager] = contextlib.nullcontext,
) -> float:
    """Mean cross-entropy (nats per token) over `iters` seeded random batches of `tokens`."""
    device = next(model.parameters()).device
    batcher = RandomBatcher(tokens, block_size, batch_size, seed=seed)
    was_training = model.training
    model.eval()
    try:
        # fork_rng: whatever the forward draws (nothing, in eval mode) leaves training's RNG alone.
        with torch.random.fork_rng(devices=[]):
            losses = torch.empty(iters, dtype=torch.float64)
            for i in range(iters):
                x, y = batcher.next_batch()
                with autocast():
                    losses[i] = model(x.to(device), y.to(device)).loss.float().item()
    finally:
        model.train(was_training)
    return float(losses.mean())


def loss_report(loss: float, n_tokens: int, n_bytes: int) -> tuple[float, float]:
    """(perplexity, bits per byte) of a mean loss over `n_tokens` tokens of `n_bytes` bytes."""
    bpb = bits_per_byte(loss, n_tokens, n_bytes) if n_tokens > 0 and n_bytes > 0 else float("nan")
    return perplexity(loss), bpb


@dataclass(frozen=True)
class SplitLoss:
    """A model's mean loss on one split, and what it means per token and per byte."""

    loss: float
    perplexity: float
    bits_per_byte: float


class SplitEvaluator:
    """Evaluates models on named splits of tokens, each time on the same seeded batches.

    An untrained model guesses about uniformly, so its loss is about ln(vocab_size) and, with
    one byte a token (characters), its bits per byte about log2(vocab_size):

    >>> from gptstudio.core.model import GPTConfig, build_model
    >>> from gptstudio.core.tokenizers import CharTokenizer
    >>> tok = CharTokenizer.from_text("abcdefghijklmnopqrstuvwxyz ")  # + <|endoftext|>: 28 ids
    >>> ids = np.array(tok.encode("the quick brown fox jumps over the lazy dog " * 20))
    >>> _ = torch.manual_seed(0)
    >>> model = build_model(GPTConfig(tok.vocab_size, block_size=16, n_layer=1, n_head=2,
    ...                               n_embd=16))
    >>> evaluator = SplitEvaluator(tok, {"val": ids}, block_size=16, batch_size=4, iters=2,
    ...                            seed=0)
    >>> val = evaluator(model)["val"]
    >>> round(val.loss, 1), round(float(np.log(28)), 1)
    (3.3, 3.3)
    >>> round(val.bits_per_byte, 1), round(float(np.log2(28)), 1)
    (4.8, 4.8)
    """

    def __init__(
        self,
        tokenizer: Any,
        splits: dict[str, np.ndarray],
        *,
        block_size: int,
        batch_size: int,
        iters: int,
        seed: int,
        autocast: Callable[[], AbstractContextManager] = contextlib.nullcontext,
    ) -> None:
        for name, tokens in splits.items():  # fail now, not at the first evaluation
            if len(tokens) < block_size + 1:
                raise DatasetError(f"The {name} split has {len(tokens)} tokens, fewer than one "
                                   f"window of {block_size} + 1 needs.")
        self.tokenizer, self.splits = tokenizer, splits
        self.block_size, self.batch_size = block_size, batch_size
        self.iters, self.seed = iters, seed
        self.autocast = autocast
        self._n_bytes: dict[str, int] | None = None  # counted once, when first needed

    def __call__(self, model: nn.Module) -> dict[str, SplitLoss]:
        if self._n_bytes is None:
            lengths = token_byte_lengths(self.tokenizer)
            self._n_bytes = {name: count_bytes(t, lengths) for name, t in self.splits.items()}
        results = {}
        for name, tokens in self.splits.items():
            loss = estimate_loss(model, tokens, block_size=self.block_size,
                                 batch_size=self.batch_size, iters=self.iters, seed=self.seed,
                                 autocast=self.autocast)
            results[name] = SplitLoss(loss, *loss_report(loss, len(tokens), self._n_bytes[name]))
        return results

    def events(self, step: int) -> tuple:
        """Nothing besides the losses: the trainer's `Evaluator` seam (see task.py)."""
        return ()


@dataclass(frozen=True)
class FullPassProgress:
    """How far a full-pass evaluation is, in windows."""

    done_windows: int
    total_windows: int


@dataclass(frozen=True)
class FullPassLoss:
    """A model's mean loss over every target token of a row, each scored once."""

    loss: float  # nats per scored token
    n_scored: int  # target tokens scored
    n_windows: int
    n_bytes: int  # bytes of the scored tokens (0 when no byte lengths were given)
    stride: int

    @property
    def perplexity(self) -> float:
        return perplexity(self.loss)

    @property
    def bits_per_byte(self) -> float:
        return loss_report(self.loss, self.n_scored, self.n_bytes)[1]


@torch.no_grad()
def full_pass_loss(
    model: nn.Module,
    tokens: np.ndarray,
    *,
    block_size: int,
    stride: int | None = None,
    batch_size: int = 8,
    byte_lengths: np.ndarray | None = None,
    autocast: Callable[[], AbstractContextManager] = contextlib.nullcontext,
    progress: Callable[[FullPassProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> FullPassLoss:
    """Mean cross-entropy over all windows of `SlidingWindowDataset(tokens, block_size, stride)`
    (see the module docstring); `byte_lengths` (`token_byte_lengths`) gives bits per byte.

    `progress` gets a `FullPassProgress` after each batch; `cancel` stops between batches with
    `Cancelled`. DatasetError if the row is shorter than one window.
    """
    dataset = SlidingWindowDataset(tokens, block_size, stride)
    n_windows, fresh = len(dataset), min(dataset.stride, block_size)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total_nats, n_scored, n_bytes = 0.0, 0, 0
    try:
        with torch.random.fork_rng(devices=[]):
            for first in range(0, n_windows, max(1, batch_size)):
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"The evaluation was cancelled after {first:,} of "
                                    f"{n_windows:,} windows.")
                indices = range(first, min(n_windows, first + max(1, batch_size)))
                pairs = [dataset[i] for i in indices]
                x = torch.stack([p[0] for p in pairs])
                y = torch.stack([p[1] for p in pairs])  # (B, T), a fresh copy
                for row, index in enumerate(indices):
                    if index > 0:  # the previous window scored these targets already
                        y[row, : block_size - fresh] = -1
                scored = y[y >= 0]
                with autocast():
                    loss = model(x.to(device), y.to(device)).loss.float().item()
                total_nats += loss * len(scored)
                n_scored += len(scored)
                if byte_lengths is not None:
                    n_bytes += int(byte_lengths[scored.numpy()].sum())
                if progress is not None:
                    progress(FullPassProgress(indices.stop, n_windows))
    finally:
        model.train(was_training)
    return FullPassLoss(total_nats / n_scored, n_scored, n_windows, n_bytes, dataset.stride)
