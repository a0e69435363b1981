"""`EpochBatches`: a fine-tune's batch source, shuffled epoch by epoch and resumable exactly.

Pretraining draws random windows from one long token stream; a fine-tune has a list of examples
and goes through all of them in a shuffled order, then again in another order (an epoch each
time). The order of epoch e is a permutation drawn from a generator seeded with (seed, e), so
the whole stream is a function of (seed, epoch, position): that triple is the state a checkpoint
keeps, and `load_state_dict` continues the same batches. Like the book's training loaders, the
last examples of an epoch that do not fill a batch wait for the next epoch (`drop_last`).

What a batch holds is the caller's: `collate(indices)` turns the chosen example indices into a
tuple of tensors (padded ids and labels for a classifier; inputs and masked targets, padded per
batch, for instructions). Left out: the examples themselves (`classification.py`,
`instructions.py`).

    >>> import torch
    >>> batches = EpochBatches(5, 2, seed=0, collate=lambda i: (torch.tensor(i),))
    >>> [batches.next_batch()[0].tolist() for _ in range(3)]  # epoch 0 (1 left over), epoch 1
    [[2, 4], [3, 0], [1, 4]]
    >>> saved = batches.state_dict()
    >>> again = EpochBatches(5, 2, seed=0, collate=lambda i: (torch.tensor(i),))
    >>> again.load_state_dict(saved)
    >>> again.next_batch()[0].tolist() == batches.next_batch()[0].tolist()
    True
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from gptstudio.core.errors import DatasetError


class EpochBatches:
    """Batches of `batch_size` example indices out of `n_examples`, reshuffled every epoch."""

    STATE_VERSION = 1

    def __init__(self, n_examples: int, batch_size: int, *, seed: int,
                 collate: Callable[[np.ndarray], tuple[torch.Tensor, ...]]) -> None:
        if n_examples < batch_size:
            raise DatasetError(
                f"The training split has {n_examples} examples, fewer than one batch of "
                f"{batch_size}; lower the batch size or use more examples.")
        self.n_examples, self.batch_size, self.seed = int(n_examples), int(batch_size), int(seed)
        self.collate = collate
        self.epoch, self.position = 0, 0
        self._order = self._permutation(0)

    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng([self.seed, epoch]).permutation(self.n_examples)

    @property
    def batches_per_epoch(self) -> int:
        return self.n_examples // self.batch_size

    def next_batch(self) -> tuple[torch.Tensor, ...]:
        """The next batch: `collate` of the next `batch_size` indices of this epoch's order."""
        if self.position + self.batch_size > self.n_examples:  # the rest waits: a new epoch
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation(self.epoch)
        chosen = self._order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return self.collate(chosen)

    def state_dict(self) -> dict[str, Any]:
        """JSON-able: where the stream stands, and what it belongs to."""
        return {"version": self.STATE_VERSION, "kind": "epochs", "seed": self.seed,
                "n_examples": self.n_examples, "batch_size": self.batch_size,
                "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a `state_dict()`; DatasetError if it belongs to other data or sizes."""
        try:
            version, kind = state["version"], state["kind"]
            saved = {key: int(state[key]) for key in ("seed", "n_examples", "batch_size")}
            epoch, position = int(state["epoch"]), int(state["position"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"The saved batch position is incomplete or corrupt ({exc!r}).") \
                from None
        if version != self.STATE_VERSION or kind != "epochs":
            raise DatasetError(f"Unknown batch position format {kind!r} v{version!r}.")
        for key, value in saved.items():
            if value != getattr(self, key):
                raise DatasetError(
                    f"The saved batch position is for {key} = {value}, but this data has "
                    f"{getattr(self, key)} (was the data file or the batch size changed?).")
        if not (0 <= position <= self.n_examples and epoch >= 0):
            raise DatasetError("The saved batch position is out of range.")
        self.epoch, self.position = epoch, position
        self._order = self._permutation(epoch)
