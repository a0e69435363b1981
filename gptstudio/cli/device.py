"""`--device` for the commands that run a model (train, finetune, sample, eval), and torchrun.

One option, one meaning (`gptstudio.core.train.device`): auto (CUDA, else Apple's MPS, else the
CPU), cpu, cuda, cuda:N or mps. Training records it in the run's TrainConfig (a resumed run keeps
its own unless `--device` is given, so a run trained on a GPU resumes on a laptop with
`--device cpu`); sampling and evaluation put the loaded model there. `distributed` wraps a
training command so that, launched by `torchrun`, each process joins the process group first
and leaves it cleanly at the end (`gptstudio.core.train.distributed`). Left out: the commands.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

TRAIN_HELP = ("where to train: auto (CUDA, then MPS, then CPU; the default for a new run), cpu, "
              "cuda, cuda:N or mps; a resumed run keeps its own unless given")
RUN_HELP = "where to run the model: auto, cpu (the default), cuda, cuda:N or mps"


def add_device_argument(parser: argparse.ArgumentParser, *, training: bool) -> None:
    """Add `--device` (default None: a new run's "auto", a resumed run's own, or the CPU)."""
    parser.add_argument("--device", default=None, metavar="DEVICE",
                        help=TRAIN_HELP if training else RUN_HELP)


def with_device_override(args: argparse.Namespace) -> None:
    """`--device X` as the training setting `--set device=X` (checked where settings are)."""
    if getattr(args, "device", None) is not None:
        args.overrides = [*getattr(args, "overrides", []), f"device={args.device}"]


def distributed(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace],
                                                                            int]:
    """`handler` run inside a distributed session when torchrun launched this process (else
    as it is): the process group joined first, left after the handler's objects are gone."""

    def run(args: argparse.Namespace) -> int:
        from gptstudio.core.train.distributed import distributed_session, launched_by_torchrun

        if not launched_by_torchrun():
            return handler(args)
        device = getattr(args, "device", None) or "auto"
        with distributed_session(device):
            return handler(args)  # its trainer and DDP model are dropped as it returns

    run.__doc__ = handler.__doc__
    run.__name__ = handler.__name__
    return run


class OtherRankDisplay:
    """What a rank other than 0 shows of its training: nothing (rank 0 prints and writes)."""

    def show(self, event: object) -> None:
        pass

    def interrupted(self, why: str) -> None:
        pass

    def checkpoint_requested(self) -> None:
        pass

    def close(self) -> None:
        pass
