"""Rank awareness: which process of a distributed run this is, without any global state.

Under `torchrun`, several processes train one model, each on its own data; their gradients are
averaged after every step. The trainer only needs to know its `rank` (0 .. world_size - 1) and
`world_size`: rank 0 alone writes metrics and checkpoints, and every rank draws its own batches
(seed + rank). Left out: launching processes and wrapping the model in DDP (the caller's job).
"""

from __future__ import annotations

import torch

from gptstudio.core.errors import ConfigError


def rank_and_world_size(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """The explicit values, else torch.distributed's if a process group runs, else (0, 1)."""
    if rank is None or world_size is None:
        dist = torch.distributed
        running = dist.is_available() and dist.is_initialized()
        if rank is None:
            rank = dist.get_rank() if running else 0
        if world_size is None:
            world_size = dist.get_world_size() if running else 1
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank must be in [0, world_size), got rank {rank} of {world_size}.")
    return rank, world_size


def resumed_seed(seed: int, rank: int, step: int) -> int:
    """The data/dropout seed of a rank other than 0 after a resume.

    Only rank 0's data position is checkpointed; the other ranks go on with a fresh stream that
    is still deterministic and differs per rank and per resume step.
    """
    return seed + rank + 7919 * step
