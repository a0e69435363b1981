"""Several processes training one model: ranks, the process group, DDP, and what they share.

Under `torchrun` (or `python -m torch.distributed.run`), N processes train one model, each on its
own batches (seed + rank); after every step's backward, `DistributedDataParallel` averages their
gradients, so every rank takes the same optimizer step and the weights stay identical. A step
then sees N times the batch of one process. What this module adds to the trainer:
- `init_distributed(device)`: when the launcher's RANK / WORLD_SIZE / LOCAL_RANK are set, joins
  the process group (nccl between GPUs, gloo on CPUs), each rank on its own GPU cuda:LOCAL_RANK;
- `wrap_ddp(model, device)`; the trainer skips the gradient sync (`no_sync`) on all but the last
  micro-batch of gradient accumulation, since only the summed gradient needs averaging;
- `mean_across_ranks` (evaluation losses: each rank scores its own batches), `any_rank` (a
  stop asked on one rank stops every rank at the same step, or the others would wait forever in
  the next gradient sync) and `barrier` (after a checkpoint that rank 0 alone writes);
- `shutdown()`: the DDP model must be dropped and garbage-collected *before*
  `destroy_process_group()` (gloo crashed at exit otherwise: ../shared/PITFALLS.md).
Rank 0 alone writes metrics, samples and checkpoints. Only rank 0's data position is
checkpointed; on resume the other ranks re-seed from the step (`resumed_seed`), so a run resumes
with the same or a different number of ranks (one included).
Nothing here is global: without a process group every function is a no-op for one process.
Left out: FSDP (sharded weights for models too big for one GPU: docs/ARCHITECTURE.md says where
it would go) and the loop (`trainer.py`).
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from gptstudio.core.errors import ConfigError

_LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def rank_and_world_size(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """The explicit values, else torch.distributed's if a process group runs, else (0, 1)."""
    if rank is None or world_size is None:
        running = is_running()
        if rank is None:
            rank = torch.distributed.get_rank() if running else 0
        if world_size is None:
            world_size = torch.distributed.get_world_size() if running else 1
    if not 0 <= rank < world_size:
        raise ConfigError(f"rank must be in [0, world_size), got rank {rank} of {world_size}.")
    return rank, world_size


def resumed_seed(seed: int, rank: int, step: int) -> int:
    """The data/dropout seed of a rank other than 0 after a resume.

    Only rank 0's data position is checkpointed; the other ranks go on with a fresh stream that
    is still deterministic and differs per rank and per resume step.
    """
    return seed + rank + 7919 * step


def is_running() -> bool:
    """Whether this process is in a process group."""
    dist = torch.distributed
    return dist.is_available() and dist.is_initialized()


def is_main_process() -> bool:
    """Rank 0, or a process outside any group: the one that writes the run's files."""
    return not is_running() or torch.distributed.get_rank() == 0


def launched_by_torchrun() -> bool:
    """Whether the launcher's environment (RANK, WORLD_SIZE, LOCAL_RANK) is set."""
    return all(name in os.environ for name in _LAUNCHER_VARS)


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in a distributed run, once `init_distributed` joined the group."""

    rank: int
    local_rank: int
    world_size: int
    backend: str  # "nccl" | "gloo"
    device: torch.device


def init_distributed(device: str = "auto") -> DistributedContext | None:
    """Join the process group torchrun set up, or None when not launched by it.

    `device` is the run's device spec: on CUDA each rank takes cuda:LOCAL_RANK and the ranks
    talk over nccl; on the CPU over gloo. MPS cannot be used by several processes.
    """
    if not launched_by_torchrun():
        return None
    from gptstudio.core.train.device import resolve_device

    try:
        rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local_rank = int(os.environ["LOCAL_RANK"])
    except ValueError:
        raise ConfigError("RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers (they are set "
                          "by torchrun).") from None
    chosen = resolve_device(device, local_rank=local_rank)
    if chosen.type == "mps":
        raise ConfigError("Distributed training needs CUDA GPUs or CPUs; mps runs one process.")
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
        backend = "nccl"
        torch.distributed.init_process_group(backend, device_id=chosen)
    else:
        backend = "gloo"
        torch.distributed.init_process_group(backend)
    return DistributedContext(rank, local_rank, world_size, backend, chosen)


def shutdown() -> None:
    """Leave the process group cleanly. Drop every reference to the DDP model first (the
    trainer drops its own when `events()` ends); the collection here runs before the group goes."""
    gc.collect()
    if is_running():
        torch.distributed.destroy_process_group()


@contextlib.contextmanager
def distributed_session(device: str = "auto") -> Iterator[DistributedContext | None]:
    """`init_distributed(device)` for the block, then `shutdown()`, even after an error."""
    context = init_distributed(device)
    try:
        yield context
    finally:
        if context is not None:
            shutdown()


def wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` (already on `device`) in DistributedDataParallel; the ranks start from rank 0's
    weights (DDP broadcasts them)."""
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)


def mean_across_ranks(values: Sequence[float], device: torch.device) -> list[float]:
    """Each value averaged over the ranks (the values themselves for one process)."""
    if not is_running() or torch.distributed.get_world_size() == 1:
        return [float(v) for v in values]
    where = device if torch.distributed.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=where)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.SUM)
    return (t / torch.distributed.get_world_size()).tolist()


def any_rank(flag: bool, device: torch.device) -> bool:
    """Whether `flag` is true on any rank (`flag` itself for one process)."""
    if not is_running() or torch.distributed.get_world_size() == 1:
        return bool(flag)
    where = device if torch.distributed.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=where)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item())


def barrier() -> None:
    """Wait until every rank is here (nothing for one process)."""
    if is_running() and torch.distributed.get_world_size() > 1:
        torch.distributed.barrier()


@contextlib.contextmanager
def main_process_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. writes a token cache), the others after it (and read
    what it wrote). Nothing for one process."""
    main = is_main_process()
    if not main:
        barrier()
    try:
        yield
    finally:
        if main:
            barrier()
