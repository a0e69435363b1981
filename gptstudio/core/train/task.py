"""What the trainer learns from, and how it scores a batch: the loop's two seams, plus its scorer.

The `Trainer` runs one loop for every kind of training. What differs between pretraining a
language model and fine-tuning it is handed in as a `TrainTask`:
- `batches`, a `BatchSource`: `next_batch()` gives a tuple of tensors (for a language model the
  inputs and the next-token targets), `state_dict()` / `load_state_dict()` save and restore the
  stream's position, so a checkpoint resumes it exactly (a JSON-able dict, stored in the
  checkpoint's training state);
- `loss_fn(forward, batch)`: the scalar loss of one micro-batch; `forward` is the model (possibly
  compiled) to call. For a language model: `forward(x, y).loss`, the mean next-token
  cross-entropy over the targets that are not -1;
- `evaluator`: called with the model at each evaluation, returns the mean loss of the "train"
  and "val" splits (`SplitLoss`), and `events(step)` may add events of its own about that
  evaluation (a classifier's accuracy and confusion matrix);
- `evaluate_at_start`: evaluate once before the first step of a new run (a fine-tune's
  "before" figures); `reseed(seed)`: a fresh stream for another rank (distributed training);
  `on_checkpoint(info)`: called after each checkpoint is written (a LoRA fine-tune writes its
  adapter file beside the checkpoints then).

`language_model_task` is the default: random windows of a token stream (`RandomBatcher`),
scored on seeded random windows of both splits (`SplitEvaluator`). Fine-tunes make their own
(`gptstudio.core.finetune`). Left out: the loop (`trainer.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch import nn

from gptstudio.core.data import RandomBatcher
from gptstudio.core.train.evaluation import SplitEvaluator, SplitLoss

if TYPE_CHECKING:
    from gptstudio.core.train.checkpoint import CheckpointInfo
    from gptstudio.core.tokenizers import Tokenizer
    from gptstudio.core.train.events import TrainEvent

Batch = tuple[torch.Tensor, ...]
LossFn = Callable[[Callable[..., Any], Batch], torch.Tensor]


class BatchSource(Protocol):
    """A resumable stream of training batches (see the module docstring)."""

    def next_batch(self) -> Batch: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Evaluator(Protocol):
    """Scores a model at an evaluation (see the module docstring)."""

    def __call__(self, model: nn.Module) -> Mapping[str, SplitLoss]: ...

    def events(self, step: int) -> Sequence[TrainEvent]: ...


def next_token_loss(forward: Callable[..., Any], batch: Batch) -> torch.Tensor:
    """A language model's loss: mean cross-entropy of the next tokens (targets -1 ignored)."""
    x, y = batch
    return forward(x, y).loss


@dataclass(frozen=True)
class TrainTask:
    """The seams of one training run (see the module docstring)."""

    batches: BatchSource
    evaluator: Evaluator
    loss_fn: LossFn = next_token_loss
    evaluate_at_start: bool = False
    reseed: Callable[[int], BatchSource] | None = None
    on_checkpoint: Callable[[CheckpointInfo], None] | None = None


def language_model_task(
    tokenizer: Tokenizer,
    train_tokens: np.ndarray,
    val_tokens: np.ndarray,
    *,
    block_size: int,
    batch_size: int,
    eval_iters: int,
    seed: int,
    eval_seed: int,
    autocast: Callable[[], AbstractContextManager],
) -> TrainTask:
    """Pretraining (or continued pretraining) on a token stream: random windows to learn from,
    seeded random windows of both splits to score on."""
    evaluator = SplitEvaluator(tokenizer, {"train": train_tokens, "val": val_tokens},
                               block_size=block_size, batch_size=batch_size, iters=eval_iters,
                               seed=eval_seed, autocast=autocast)
    return TrainTask(
        batches=RandomBatcher(train_tokens, block_size, batch_size, seed=seed),
        evaluator=evaluator,
        reseed=lambda new_seed: RandomBatcher(train_tokens, block_size, batch_size,
                                              seed=new_seed),
    )
