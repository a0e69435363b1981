"""What a trainer reports besides its steps: evaluations, text samples, and the run's log.

`evaluate()` scores the current weights on both splits through the task's evaluator; under
distributed training each rank scores its own seeded batches and the losses are averaged over
the ranks (`distributed.mean_across_ranks`), so every rank sees the same figures and rank 0
logs them. `sample()` writes text from the fixed prompt with the fixed seed. Only rank 0 writes
to the run folder (`_log`). `Trainer` mixes this in; it uses only the attributes named below.
Left out: the loop (`trainer.py`) and checkpoints (`checkpointing.py`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

import torch
from torch import nn

from gptstudio.core.data import perplexity
from gptstudio.core.train.config import TrainConfig
from gptstudio.core.train.distributed import mean_across_ranks
from gptstudio.core.train.evaluation import SplitLoss
from gptstudio.core.train.events import EvalEvent, SampleEvent, TrainEvent
from gptstudio.core.train.samples import sample_text
from gptstudio.core.train.task import Evaluator

if TYPE_CHECKING:
    from gptstudio.core.tokenizers import Tokenizer
    from gptstudio.core.train.run import Run


class ReportingMixin:
    """Evaluations, samples and logging of a `Trainer` (see the module docstring)."""

    model: nn.Module
    tokenizer: Tokenizer
    config: TrainConfig
    run: Run | None
    rank: int
    world_size: int
    device: torch.device
    evaluator: Evaluator
    step: int
    best_val_loss: float | None
    _last_eval: tuple[int, float] | None

    def _evaluation(self) -> Iterator[TrainEvent]:
        """An evaluation's events: the losses, then what the evaluator adds (logged)."""
        yield self._emit(self.evaluate())
        for event in self.evaluator.events(self.step):
            yield self._emit(event)

    def evaluate(self) -> EvalEvent:
        """Mean loss, perplexity and bits per byte on both splits, at the current weights."""
        results = self.evaluator(self.model)
        if self.world_size > 1:
            results = mean_split_losses(results, self.device)
        train, val = results["train"], results["val"]
        best = math.isfinite(val.loss) and (self.best_val_loss is None
                                            or val.loss < self.best_val_loss)
        if best:
            self.best_val_loss = val.loss
        self._last_eval = (self.step, val.loss)
        return EvalEvent(step=self.step, train_loss=train.loss, val_loss=val.loss,
                         train_ppl=train.perplexity, val_ppl=val.perplexity,
                         train_bpb=train.bits_per_byte, val_bpb=val.bits_per_byte, best=best)

    def sample(self) -> SampleEvent:
        """Text from the fixed prompt with the fixed seed, at the current weights."""
        cfg = self.config
        text = sample_text(self.model, self.tokenizer, cfg.sample_prompt,
                           max_new_tokens=cfg.sample_tokens, temperature=cfg.sample_temperature,
                           seed=cfg.seed)
        return SampleEvent(step=self.step, prompt=cfg.sample_prompt, text=text)

    def _emit(self, event: TrainEvent) -> TrainEvent:
        self._log(event)
        return event

    def _log(self, event: TrainEvent) -> None:
        if self.run is not None and self.rank == 0:
            self.run.log(event)


def mean_split_losses(results: Mapping[str, SplitLoss],
                      device: torch.device) -> dict[str, SplitLoss]:
    """Each split's loss and bits per byte averaged over the ranks (both are linear in the mean
    loss; the ranks score equally many batches), the perplexity recomputed from the mean."""
    names = sorted(results)
    flat = [v for name in names for v in (results[name].loss, results[name].bits_per_byte)]
    means = mean_across_ranks(flat, device)
    return {name: SplitLoss(means[2 * i], perplexity(means[2 * i]), means[2 * i + 1])
            for i, name in enumerate(names)}
