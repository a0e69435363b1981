"""From a long row of token ids to training examples: windows, a train/val split, batches.

A language model learns to predict each next token, so one example is a window of the token row
and the same window shifted by one:

    tokens   = [5, 9, 2, 7, 3, 8, ...]          block_size T = 4
    x        = tokens[i     : i + T]     = [5, 9, 2, 7]
    y        = tokens[i + 1 : i + T + 1] = [9, 2, 7, 3]   y[t] is the token that follows x[:t+1]

A window needs T + 1 tokens. Two ways to draw windows, both offered:
  * `SlidingWindowDataset` + `make_dataloader`: windows start every `stride` tokens (stride = T:
    no overlap), and an epoch visits each once, shuffled by a seeded generator. Good for exact
    evaluation and for "how many epochs have we done".
  * `RandomBatcher`: nanoGPT's way — every batch takes windows at random start positions. Its
    whole state (the generator's state and a counter) is a small JSON-able dict, so a run that is
    stopped and resumed draws bit for bit the batches it would have drawn.

`split_tokens` cuts the row by position (the first part trains, the tail validates), never by
shuffled windows: neighbouring windows overlap, so a shuffled split would leak the validation
text into training.

Tokens may be any 1-D integer array (a cache `np.memmap` included: windows are read from it one
batch at a time). Batches are int64 tensors on the CPU. Left out: tokenizing (`token_cache.py`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from gptstudio.core.errors import ConfigError, DatasetError


def _as_token_array(tokens: Any) -> np.ndarray:
    """A 1-D integer numpy view of `tokens` (no copy for arrays and memmaps)."""
    if isinstance(tokens, torch.Tensor):
        tokens = tokens.detach().cpu().numpy()
    array = np.asarray(tokens)
    if array.ndim != 1:
        raise DatasetError(f"Tokens must be a 1-D row of ids, got an array of shape {array.shape}.")
    if array.size and not np.issubdtype(array.dtype, np.integer):
        raise DatasetError(f"Tokens must be integer ids, got dtype {array.dtype}.")
    return array


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive whole number, got {value!r}.")


def _check_one_window(n_tokens: int, block_size: int, what: str = "The corpus") -> None:
    if n_tokens < block_size + 1:
        raise DatasetError(
            f"{what} has {n_tokens} tokens, fewer than one window needs ({block_size} + 1). "
            f"Use a bigger corpus or a smaller block size."
        )


def split_tokens(
    tokens: Any, val_fraction: float = 0.1, *, block_size: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Split by position: (the first 1 - val_fraction of the tokens, the rest).

    The validation part gets round(n * val_fraction) tokens. With `block_size`, both parts must
    hold at least one window (block_size + 1 tokens) — the validation part only if
    val_fraction > 0 — else `DatasetError` says what to change. Returns views, not copies.
    """
    array = _as_token_array(tokens)
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}.")
    n_val = int(round(len(array) * val_fraction))
    train, val = array[: len(array) - n_val], array[len(array) - n_val :]
    if block_size is not None:
        _check_positive("block_size", block_size)
        _check_one_window(len(train), block_size, "The training split")
        if val_fraction > 0 and len(val) < block_size + 1:
            raise DatasetError(
                f"The validation split has {len(val)} tokens ({val_fraction:.0%} of "
                f"{len(array)}), fewer than one window needs ({block_size} + 1). Use a larger "
                f"validation fraction, a smaller block size or a bigger corpus."
            )
    return train, val


class SlidingWindowDataset(Dataset):
    """Windows (x, y) starting every `stride` tokens; stride defaults to block_size (no overlap).

    >>> ds = SlidingWindowDataset(np.arange(10), block_size=4)
    >>> len(ds), ds[1][0].tolist(), ds[1][1].tolist()
    (2, [4, 5, 6, 7], [5, 6, 7, 8])
    """

    def __init__(self, tokens: Any, block_size: int, stride: int | None = None) -> None:
        _check_positive("block_size", block_size)
        stride = block_size if stride is None else stride
        _check_positive("stride", stride)
        self.tokens = _as_token_array(tokens)
        self.block_size = int(block_size)
        self.stride = int(stride)
        _check_one_window(len(self.tokens), self.block_size)
        # The last start position i must leave room for y: i + block_size + 1 <= len(tokens).
        self._n_windows = (len(self.tokens) - self.block_size - 1) // self.stride + 1

    def __len__(self) -> int:
        return self._n_windows

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if index < 0:
            index += self._n_windows
        if not 0 <= index < self._n_windows:
            raise IndexError(f"window {index} out of range (0..{self._n_windows - 1})")
        start = index * self.stride
        window = np.asarray(self.tokens[start : start + self.block_size + 1], dtype=np.int64)
        window_t = torch.from_numpy(window)  # astype made a writable copy
        return window_t[:-1], window_t[1:]


def make_dataloader(
    tokens: Any,
    block_size: int,
    batch_size: int,
    *,
    stride: int | None = None,
    shuffle: bool = True,
    seed: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """An epoch-style loader of (x, y) batches of shape (batch_size, block_size).

    Shuffling uses its own generator seeded with `seed`, so the order of every epoch is
    reproducible and independent of the global torch seed.
    """
    _check_positive("batch_size", batch_size)
    dataset = SlidingWindowDataset(tokens, block_size, stride)
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=shuffle, generator=generator, drop_last=drop_last
    )


class RandomBatcher:
    """nanoGPT-style batches: `batch_size` windows at uniformly random start positions.

    Draws from its own `np.random.Generator` (PCG64) seeded with `seed`. `state_dict()` captures
    everything needed to continue the exact same sequence of batches after `load_state_dict`.
    """

    STATE_VERSION = 1

    def __init__(self, tokens: Any, block_size: int, batch_size: int, seed: int = 0) -> None:
        _check_positive("block_size", block_size)
        _check_positive("batch_size", batch_size)
        self.tokens = _as_token_array(tokens)
        self.block_size = int(block_size)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        _check_one_window(len(self.tokens), self.block_size)
        self._rng = np.random.Generator(np.random.PCG64(self.seed))
        self.batches_drawn = 0
        self._offsets = np.arange(self.block_size + 1)  # positions within one window

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y), each an int64 tensor of shape (batch_size, block_size)."""
        # Starts in [0, n - block_size - 1]: the window plus its shifted target stay in range.
        n_starts = len(self.tokens) - self.block_size
        starts = self._rng.integers(0, n_starts, size=self.batch_size)
        windows = self.tokens[starts[:, None] + self._offsets]  # (B, T + 1), one gather
        windows = torch.from_numpy(windows.astype(np.int64))
        self.batches_drawn += 1
        return windows[:, :-1], windows[:, 1:]

    def state_dict(self) -> dict:
        """A JSON-able snapshot: generator state, batch count, and what the state belongs to."""
        return {
            "version": self.STATE_VERSION,
            "seed": self.seed,
            "n_tokens": len(self.tokens),
            "block_size": self.block_size,
            "batch_size": self.batch_size,
            "batches_drawn": self.batches_drawn,
            "bit_generator": _jsonable(self._rng.bit_generator.state),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from a `state_dict()`; `DatasetError` if it is corrupt or for other data."""
        try:
            version = state["version"]
            saved = {key: state[key] for key in ("n_tokens", "block_size", "batch_size")}
            seed, batches_drawn = int(state["seed"]), int(state["batches_drawn"])
            rng = np.random.Generator(np.random.PCG64())
            rng.bit_generator.state = state["bit_generator"]  # validates the state's shape
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"The saved batcher state is incomplete or corrupt ({exc!r}).") \
                from None
        if version != self.STATE_VERSION:
            raise DatasetError(f"Unknown batcher state version {version!r}.")
        for key, value in saved.items():
            mine = len(self.tokens) if key == "n_tokens" else getattr(self, key)
            if value != mine:
                raise DatasetError(
                    f"The saved batcher state is for {key} = {value}, but this batcher has "
                    f"{mine}, so it cannot resume the same batches (was the corpus, the "
                    f"tokenizer or the configuration changed?)."
                )
        self.seed, self.batches_drawn, self._rng = seed, batches_drawn, rng


def _jsonable(value: Any) -> Any:
    """Plain dicts/lists/ints/strs only (numpy scalars become Python ones)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    return value
