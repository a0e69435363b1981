"""The fine-tuning display: `TrainProgress` with a fine-tune's header, accuracies and losses.

Kept apart from `finetune.py` so that building the parser never imports the engine (torch).
Left out: the commands (`finetune.py`).
"""

from __future__ import annotations

from typing import Any

from gptstudio.cli.progress import TrainProgress
from gptstudio.core.train import AccuracyEvent, EvalEvent, TrainEvent


class FinetuneProgress(TrainProgress):
    """The training display, with a fine-tune's header, accuracies and losses."""

    def __init__(self, prepared: Any, **kwargs: Any) -> None:
        super().__init__(prepared, **kwargs)
        s = prepared.summary
        n = prepared.spec.train_last
        trained = {None: "every block", 0: "the head alone"}.get(
            n, f"the last {n} block{'s' if n != 1 else ''}")
        self._line(f"{prepared.spec.task} ({prepared.spec.method}, {trained}): "
                   f"{s['n_trainable']:,} of {prepared.n_params:,} parameters train; "
                   + ", ".join(f"{s[f'n_{n}']:,} {n}" for n in ("train", "val", "test"))
                   + (f"; {s['truncated_train']} training texts cut to {s['max_length']} tokens"
                      if s.get("truncated_train") else ""))

    def show(self, event: TrainEvent) -> None:
        if isinstance(event, AccuracyEvent):
            self._line(f"step {event.step}: accuracy train {event.train_accuracy:.1%}, val "
                       f"{event.val_accuracy:.1%}, test {event.test_accuracy:.1%}")
        elif isinstance(event, EvalEvent):
            self._line(f"step {event.step}: train loss {event.train_loss:.4f}, val loss "
                       f"{event.val_loss:.4f}{' best' if event.best else ''}")
        else:
            super().show(event)
