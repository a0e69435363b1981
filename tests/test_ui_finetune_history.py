"""RunHistory's accuracy columns: the one mapping from AccuracyEvent to what the Fine-tune tab
plots, live or replayed from a run folder's log."""

from __future__ import annotations

import math

from gptstudio.core.train import AccuracyEvent, EvalEvent, StepEvent
from gptstudio.ui.history import RunHistory
from gptstudio.ui.services.run_files import history_from_events


def step(n: int) -> StepEvent:
    return StepEvent(step=n, loss=1.0 / (n + 1), lr=1e-3, grad_norm=1.0, tokens_per_sec=100.0,
                     tokens_seen=10 * n, elapsed=float(n), eta=0.0, max_steps=10,
                     step_time=0.1, skipped=False)


def accuracy(n: int, val: float) -> AccuracyEvent:
    return AccuracyEvent(step=n, labels=("ham", "spam"), train_accuracy=val + 0.1,
                         val_accuracy=val, test_accuracy=math.nan,
                         confusion=((n, 1), (2, 3)))


def events() -> list:
    out = [EvalEvent(0, 0.7, 0.7, math.nan, math.nan, math.nan, math.nan, True), accuracy(0, 0.5)]
    for n in range(1, 7):
        out.append(step(n))
        if n % 3 == 0:
            out += [EvalEvent(n, 0.5, 0.6, math.nan, math.nan, math.nan, math.nan, True),
                    accuracy(n, 0.5 + n / 20)]
    return out


def test_accuracy_events_fill_the_accuracy_columns_and_the_latest_confusion():
    h = history_from_events(events(), "run")
    assert list(h.accuracy.column("step")) == [0, 3, 6]
    assert list(h.accuracy.column("val_accuracy")) == [0.5, 0.65, 0.8]
    assert [round(v, 6) for v in h.accuracy.column("train_accuracy")] == [0.6, 0.75, 0.9]
    assert math.isnan(h.accuracy.last("test_accuracy"))
    assert h.confusion.step == 6 and h.confusion.confusion == ((6, 1), (2, 3))
    assert len(h.steps) == 6 and len(h.evals) == 3  # the other columns as before


def test_rewind_clear_and_copy_keep_accuracy_in_step_with_the_rest():
    h = history_from_events(events(), "run")
    version = h.version
    h.rewind(4)  # a resumed run repeats the steps after its checkpoint at 3
    assert list(h.accuracy.column("step")) == [0, 3] and h.confusion is None
    assert h.version > version
    copy = RunHistory()
    copy.copy_from(history_from_events(events(), "run"))
    assert list(copy.accuracy.column("step")) == [0, 3, 6] and copy.confusion.step == 6
    copy.clear()
    assert len(copy.accuracy) == 0 and copy.confusion is None
