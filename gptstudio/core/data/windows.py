"""The windows a model trains on, made visible: where they start, how they overlap, one batch.

`SlidingWindowDataset` (dataset.py) cuts the token row into windows of `block_size` tokens
starting every `stride` tokens; x is a window and y the same window shifted by one token.
`WindowPlan` describes that cut for a person — how many windows, how many tokens consecutive
windows share, how many tokens at the end fit in no window — and reads single windows and
batches out of the row, exactly as the dataset and the loaders do (the tests compare them):

    >>> plan = WindowPlan(n_tokens=10, block_size=4, stride=2)
    >>> plan.n_windows, plan.overlap, plan.n_left_out
    (3, 2, 1)
    >>> x, y = plan.window(np.arange(10), 1)
    >>> x.tolist(), y.tolist()
    ([2, 3, 4, 5], [3, 4, 5, 6])

Batches come two ways, as in the engine: an epoch loader's (`make_dataloader`: the windows
above, shuffled by a seeded generator) and the trainer's (`RandomBatcher`: windows at random
start positions). Left out: tokenizing the corpus (`token_cache.py`) and the loss
(`gptstudio.core.train.evaluation`, whose full-pass evaluation walks these windows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from gptstudio.core.data.dataset import RandomBatcher, SlidingWindowDataset
from gptstudio.core.errors import ConfigError, DatasetError

BatchSource = Literal["epoch", "trainer"]


@dataclass(frozen=True)
class WindowPlan:
    """The sliding windows over a row of `n_tokens` tokens (stride None = block_size)."""

    n_tokens: int
    block_size: int
    stride: int

    def __init__(self, n_tokens: int, block_size: int, stride: int | None = None) -> None:
        stride = block_size if stride is None else stride
        for name, value in (("block_size", block_size), ("stride", stride)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"{name} must be a positive whole number, got {value!r}.")
        if n_tokens < block_size + 1:
            raise DatasetError(
                f"The text has {n_tokens} tokens, fewer than one window needs ({block_size} "
                f"+ 1). Use a bigger corpus or a smaller block size.")
        object.__setattr__(self, "n_tokens", int(n_tokens))
        object.__setattr__(self, "block_size", int(block_size))
        object.__setattr__(self, "stride", int(stride))

    @property
    def n_windows(self) -> int:
        """How many windows: the last start i leaves room for y, i + block_size + 1 <= n."""
        return (self.n_tokens - self.block_size - 1) // self.stride + 1

    @property
    def overlap(self) -> int:
        """Tokens of x that consecutive windows share (0 when stride >= block_size)."""
        return max(0, self.block_size - self.stride)

    @property
    def overlap_fraction(self) -> float:
        """The share of a window that the next window repeats."""
        return self.overlap / self.block_size

    @property
    def gap(self) -> int:
        """Tokens skipped between consecutive windows (stride > block_size)."""
        return max(0, self.stride - self.block_size)

    @property
    def n_left_out(self) -> int:
        """Tokens after the last window's target, in no x and no y."""
        return self.n_tokens - (self.start(self.n_windows - 1) + self.block_size + 1)

    def start(self, index: int) -> int:
        """The position of window `index`'s first token."""
        if not 0 <= index < self.n_windows:
            raise DatasetError(f"There is no window {index}; there are {self.n_windows} "
                               f"(0..{self.n_windows - 1}).")
        return index * self.stride

    def window(self, tokens: Any, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of window `index`: int64 arrays of block_size ids, y = x shifted by one."""
        self._check(tokens)
        start = self.start(index)
        window = np.asarray(tokens[start:start + self.block_size + 1], dtype=np.int64)
        return window[:-1], window[1:]

    def batch(self, tokens: Any, batch_size: int, *, source: BatchSource = "epoch",
              seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The first batch the engine would draw: (start positions (B,), x (B, T), y (B, T)).

        "epoch": `make_dataloader(tokens, block_size, batch_size, stride=stride, seed=seed)`'s
        first batch (shuffled windows); "trainer": `RandomBatcher(..., seed)`'s first batch.
        """
        self._check(tokens)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive whole number, got {batch_size!r}.")
        if source == "epoch":
            # The loader first draws its workers' base seed from the generator, then its
            # RandomSampler draws one permutation of the windows (a test compares with it).
            generator = torch.Generator().manual_seed(seed)
            torch.empty((), dtype=torch.int64).random_(generator=generator)
            order = torch.randperm(self.n_windows, generator=generator)[:batch_size]
            starts = order.numpy().astype(np.int64) * self.stride
        elif source == "trainer":
            batcher = RandomBatcher(tokens, self.block_size, batch_size, seed=seed)
            rng = np.random.Generator(np.random.PCG64(seed))  # the batcher's first draw
            starts = rng.integers(0, self.n_tokens - self.block_size, size=batch_size)
            x, y = batcher.next_batch()
            return starts.astype(np.int64), x.numpy(), y.numpy()
        else:
            raise ConfigError(f"A batch comes from 'epoch' or 'trainer', not {source!r}.")
        offsets = np.arange(self.block_size + 1)
        windows = np.asarray(tokens)[starts[:, None] + offsets].astype(np.int64)
        return starts, windows[:, :-1], windows[:, 1:]

    def dataset(self, tokens: Any) -> SlidingWindowDataset:
        """The engine's dataset of these windows."""
        self._check(tokens)
        return SlidingWindowDataset(tokens, self.block_size, self.stride)

    def _check(self, tokens: Any) -> None:
        if len(tokens) != self.n_tokens:
            raise DatasetError(f"This plan is for {self.n_tokens} tokens, not {len(tokens)}.")
