"""`KVCache`: the keys and values of past positions, kept so decoding costs one position per token.

Without a cache, generating token t+1 re-runs the whole model over all t previous tokens. But in a
causal transformer the keys and values of old positions never change (they only see the past), so
we store them once and, for each new token, compute only its own query, key and value.

Layout: one preallocated tensor for keys and one for values, (n_layer, B, n_head, max_len,
head_dim), filled from the left. `length` is how many positions are stored; it is also the
position index of the next token (the GPT adds it to the position embeddings).

Full-cache policy: the cache holds at most `max_len` (= block_size) positions, the size of the
position table. Keys carry their absolute position, so a full cache cannot simply slide by one.
The sampler (`gptstudio.core.sampling`) therefore resets the cache when it is full and re-reads the
last three quarters of the block in one forward pass, then goes on one token at a time. Appending
past `max_len` here raises ConfigError.

Left out: batching of sequences with different lengths (every row shares `length`), and paging.
"""

from __future__ import annotations

import torch

from gptstudio.core.errors import ConfigError


class KVCache:
    """Keys and values of every layer for the positions seen so far."""

    def __init__(
        self,
        n_layer: int,
        batch_size: int,
        n_head: int,
        max_len: int,
        head_dim: int,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        shape = (n_layer, batch_size, n_head, max_len, head_dim)
        # Uninitialised: only the first `length` positions are ever read, and zero-filling a
        # gpt2-sized cache (75 MB) is a pass over memory spent on nothing (docs/MEASUREMENTS.md).
        self.keys = torch.empty(shape, dtype=dtype, device=device)
        self.values = torch.empty(shape, dtype=dtype, device=device)
        self.length = 0  # positions stored == position of the next token
        # The decode fast path's gathered weights (`decode.py`), built at its first use: a
        # cache lives for one generation, so a model changed in between gets a new plan.
        self.decode_plan = None

    @property
    def max_len(self) -> int:
        """The most positions the cache can hold (the model's block_size)."""
        return self.keys.shape[3]

    @property
    def batch_size(self) -> int:
        return self.keys.shape[1]

    @property
    def remaining(self) -> int:
        """How many more positions fit."""
        return self.max_len - self.length

    def reset(self) -> None:
        """Forget every position (the memory is reused, not freed)."""
        self.length = 0

    def check_room(self, n_new: int, batch_size: int) -> None:
        """Raise ConfigError unless n_new more positions of this batch size fit."""
        if batch_size != self.batch_size:
            raise ConfigError(
                f"The KV cache was made for batch size {self.batch_size}, not {batch_size}."
            )
        if n_new > self.remaining:
            raise ConfigError(
                f"The KV cache is full: it holds {self.length} of {self.max_len} positions and "
                f"cannot take {n_new} more. Reset it, or re-read a shorter context."
            )

    def update(
        self, layer: int, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store one layer's new keys/values (B, n_head, T_new, head_dim) after the old ones.

        Returns all keys and values so far, (B, n_head, length + T_new, head_dim). `length`
        itself moves on only in `advance`, once every layer has stored its part.
        """
        start, end = self.length, self.length + k.shape[2]
        self.keys[layer, :, :, start:end] = k
        self.values[layer, :, :, start:end] = v
        return self.keys[layer, :, :, :end], self.values[layer, :, :, :end]

    def advance(self, n_new: int) -> None:
        """Count n_new more positions as stored (called by the model after its last layer)."""
        self.length += n_new
