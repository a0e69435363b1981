"""A run's metrics as growable numpy columns: what the plots draw and what CSV export writes.

Appending is amortised O(1) (capacity doubles), and reading a column is a view of the filled
part, so a plot can redraw 100k points at 30 Hz without copying Python lists. `add_event` is
the one mapping from the engine's training events to these columns: the Train tab feeds it live,
and replaying a run folder feeds it the same events read back from the run's log.
Plain numpy: importing this module pulls in neither Qt nor torch.
Left out: drawing (`widgets/plots.py`) and reading files (the engine's `read_metrics`).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class Columns:
    """Named float64 columns of equal length that grow together."""

    def __init__(self, names: Iterable[str], capacity: int = 1024) -> None:
        self.names = tuple(names)
        self._data = {n: np.full(capacity, np.nan) for n in self.names}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def append(self, values: Mapping[str, float | None]) -> None:
        if self._size == len(self._data[self.names[0]]):
            for name, arr in self._data.items():  # double the capacity, keep the filled part
                grown = np.full(2 * len(arr), np.nan)
                grown[: self._size] = arr[: self._size]
                self._data[name] = grown
        i = self._size
        for name in self.names:
            value = values.get(name)
            self._data[name][i] = np.nan if value is None else float(value)
        self._size += 1

    def column(self, name: str) -> np.ndarray:
        """The filled part of a column (a view: do not keep it across appends)."""
        return self._data[name][: self._size]

    def clear(self) -> None:
        self._size = 0

    def copy_from(self, other: Columns) -> None:
        """Become a copy of `other` (same column names)."""
        self._data = {n: other._data[n].copy() for n in self.names}
        self._size = len(other)

    def truncate(self, n: int) -> None:
        """Keep only the first `n` rows."""
        self._size = max(0, min(n, self._size))

    def last(self, name: str) -> float:
        return float(self._data[name][self._size - 1]) if self._size else math.nan


STEP_COLUMNS = ("step", "tokens", "elapsed", "loss", "lr", "grad_norm", "tokens_per_s")
EVAL_COLUMNS = ("step", "tokens", "elapsed", "train_loss", "val_loss", "train_bpb", "val_bpb")
# A classifier's evaluations (fine-tunes): accuracy per split, in [0, 1].
ACCURACY_COLUMNS = ("step", "train_accuracy", "val_accuracy", "test_accuracy")


@dataclass
class RunHistory:
    """Everything plotted for one run: per-step metrics, evaluations and text samples."""

    name: str = "current run"
    bytes_per_token: float | None = None  # converts a loss to bits per byte
    steps: Columns = field(default_factory=lambda: Columns(STEP_COLUMNS))
    evals: Columns = field(default_factory=lambda: Columns(EVAL_COLUMNS))
    samples: list[tuple[int, str]] = field(default_factory=list)
    accuracy: Columns = field(default_factory=lambda: Columns(ACCURACY_COLUMNS, 64))
    confusion: Any = None  # the latest AccuracyEvent (labels, validation confusion), or None
    version: int = 0  # bumped on every change, so plots know when to redraw

    def add_event(self, event: object) -> None:
        """Add one engine training event (live or replayed); other kinds are ignored.

        An evaluation comes right after the step it measured, so its tokens and elapsed time
        are that step's (read back by step, the same whether live or replayed).
        """
        # Imported here: the events module is plain dataclasses, but its package imports torch.
        from gptstudio.core.train.events import AccuracyEvent, EvalEvent, SampleEvent, StepEvent

        if isinstance(event, StepEvent):
            self.add_step(step=event.step, tokens=event.tokens_seen, elapsed=event.elapsed,
                          loss=event.loss, lr=event.lr, grad_norm=event.grad_norm,
                          tokens_per_s=event.tokens_per_sec)
        elif isinstance(event, EvalEvent):
            tokens, elapsed = self.at_step(event.step)
            self.add_eval(step=event.step, tokens=tokens, elapsed=elapsed,
                          train_loss=event.train_loss, val_loss=event.val_loss,
                          train_bpb=event.train_bpb, val_bpb=event.val_bpb)
        elif isinstance(event, SampleEvent):
            self.add_sample(event.step, event.prompt + event.text)
        elif isinstance(event, AccuracyEvent):
            self.accuracy.append({"step": event.step, "train_accuracy": event.train_accuracy,
                                  "val_accuracy": event.val_accuracy,
                                  "test_accuracy": event.test_accuracy})
            self.confusion = event
            self.version += 1

    def add_step(self, **values: float | None) -> None:
        step = values.get("step")
        if step is not None and len(self.steps) and step <= self.steps.last("step"):
            # A resumed run repeats the steps logged after its checkpoint: the new ones win.
            self.rewind(float(step))
        self.steps.append(values)
        self.version += 1

    def add_eval(self, **values: float | None) -> None:
        self.evals.append(values)
        loss, bpb = values.get("val_loss"), values.get("val_bpb")
        if self.bytes_per_token is None and loss and bpb and math.isfinite(loss * bpb):
            # bpb = loss / ln 2 / bytes_per_token: one evaluation tells us the run's ratio.
            self.bytes_per_token = loss / math.log(2) / bpb
        self.version += 1

    def add_sample(self, step: int, text: str) -> None:
        self.samples.append((step, text))
        self.version += 1

    def rewind(self, step: float) -> None:
        """Forget everything logged at `step` or later."""
        self.steps.truncate(int(np.searchsorted(self.steps.column("step"), step)))
        self.evals.truncate(int(np.searchsorted(self.evals.column("step"), step)))
        self.accuracy.truncate(int(np.searchsorted(self.accuracy.column("step"), step)))
        if self.confusion is not None and self.confusion.step >= step:
            self.confusion = None
        self.samples = [s for s in self.samples if s[0] < step]
        self.version += 1

    def at_step(self, step: float) -> tuple[float, float]:
        """(tokens seen, elapsed seconds) at `step`, from the step rows (NaN if unknown)."""
        steps = self.steps.column("step")
        i = int(np.searchsorted(steps, step))
        if i < len(steps) and steps[i] == step:
            return float(self.steps.column("tokens")[i]), float(self.steps.column("elapsed")[i])
        return math.nan, math.nan

    def clear(self) -> None:
        self.steps.clear()
        self.evals.clear()
        self.accuracy.clear()
        self.confusion = None
        self.samples.clear()
        self.version += 1

    def copy_from(self, other: RunHistory) -> None:
        """Become a copy of `other`, in place (plots keep their reference to this object)."""
        self.name, self.bytes_per_token = other.name, other.bytes_per_token
        self.steps.copy_from(other.steps)
        self.evals.copy_from(other.evals)
        self.accuracy.copy_from(other.accuracy)
        self.confusion = other.confusion
        self.samples = list(other.samples)
        self.version += 1

    def sample_near(self, step: float) -> tuple[int, str] | None:
        """The sample whose step is closest to `step` (None if there are none)."""
        if not self.samples:
            return None
        return min(self.samples, key=lambda s: abs(s[0] - step))

    def to_bpb(self, loss: np.ndarray) -> np.ndarray:
        """Loss in nats per token -> bits per byte (NaN when bytes/token is unknown)."""
        if not self.bytes_per_token:
            return np.full_like(loss, np.nan)
        return loss / math.log(2) / self.bytes_per_token

    def to_csv(self) -> str:
        """Steps and evaluations merged by step, one row per step, as CSV text."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*STEP_COLUMNS, "train_loss_eval", "val_loss", "val_bpb"])
        evals = {int(s): i for i, s in enumerate(self.evals.column("step"))}
        cols = {n: self.steps.column(n) for n in STEP_COLUMNS}
        for i in range(len(self.steps)):
            row: list[Any] = [_fmt(cols[n][i]) for n in STEP_COLUMNS]
            j = evals.get(int(cols["step"][i]))
            if j is None:
                row += ["", "", ""]
            else:
                row += [_fmt(self.evals.column(n)[j])
                        for n in ("train_loss", "val_loss", "val_bpb")]
            writer.writerow(row)
        return out.getvalue()


def _fmt(value: float) -> str:
    if math.isnan(value):
        return ""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(float(value))
