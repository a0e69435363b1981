"""The events a training run reports: small frozen dataclasses of plain numbers and text.

The trainer yields them; the CLI prints them, the app plots them, the run folder stores them one
per line in `metrics.jsonl`. They never hold tensors or modules, so they can cross threads and be
written to disk as they are. Two kinds are answers to requests (`TrainControl.request_weights`,
`request_attention`, `watch_*`) and are *not* logged: `WeightsEvent` and `AttentionEvent` carry
numpy copies (a whole state dict, T x T maps per layer), too big for a metrics file and easy to
recompute from a checkpoint. Left out: producing them (`trainer.py`) and the file (`run.py`).

In JSON each event is a flat object with an `"event"` key naming its kind; NaN and infinity
(a diverged loss) are written as `null`, which strict JSON readers accept, and read back as NaN:

    >>> event_to_dict(WarningEvent(step=7, message="skipped"))
    {'event': 'warning', 'step': 7, 'message': 'skipped'}
    >>> event_from_dict({'event': 'warning', 'step': 7, 'message': 'skipped'})
    WarningEvent(step=7, message='skipped')
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal, Union

from gptstudio.core.inspect import AttentionMaps, WeightsSnapshot

RunState = Literal["running", "paused", "stopped", "finished", "failed"]


@dataclass(frozen=True)
class StepEvent:
    """One optimizer step. `loss` is the mean over its micro-batches; `skipped` steps (a NaN/inf
    loss or gradient) changed no weight. Times are in seconds and leave out pauses, evaluations
    and samples; `tokens_per_sec` is this step's speed (all ranks)."""

    step: int  # steps done so far, 1 after the first
    loss: float
    lr: float
    grad_norm: float  # before clipping
    tokens_per_sec: float
    tokens_seen: int
    elapsed: float
    eta: float  # estimated seconds of training left (steps only)
    max_steps: int = 0
    step_time: float = 0.0
    skipped: bool = False


@dataclass(frozen=True)
class EvalEvent:
    """Losses averaged over `eval_iters` batches of each split; perplexity = exp(loss);
    bits per byte = loss / ln 2 * tokens per byte, comparable across tokenizers."""

    step: int
    train_loss: float
    val_loss: float
    train_ppl: float
    val_ppl: float
    train_bpb: float
    val_bpb: float
    best: bool = False  # the lowest val loss of the run so far


@dataclass(frozen=True)
class AccuracyEvent:
    """A classifier's accuracy on each split at an evaluation (NaN for a split not measured),
    and its confusion matrix on the validation split: `confusion[i][j]` counts the examples
    of class `labels[i]` predicted as `labels[j]`. Logged right after that step's EvalEvent."""

    step: int
    labels: tuple[str, ...]
    train_accuracy: float
    val_accuracy: float
    test_accuracy: float
    confusion: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:  # read back from JSON as lists: keep it hashable
        object.__setattr__(self, "labels", tuple(self.labels))
        object.__setattr__(self, "confusion", tuple(tuple(int(n) for n in row)
                                                    for row in self.confusion))


@dataclass(frozen=True)
class SampleEvent:
    """Text generated from the fixed prompt with a fixed seed, to read progress by eye."""

    step: int
    prompt: str
    text: str


@dataclass(frozen=True)
class CheckpointEvent:
    """A checkpoint was written (atomically) to `path`."""

    step: int
    path: str
    best: bool = False  # it holds the lowest val loss so far


@dataclass(frozen=True)
class StatusEvent:
    """The run changed state; `message` says why in a sentence."""

    state: RunState
    message: str = ""
    step: int = 0


@dataclass(frozen=True)
class WarningEvent:
    """Something went wrong but training goes on (e.g. a skipped non-finite step)."""

    step: int
    message: str


@dataclass(frozen=True)
class WeightsEvent:
    """A copy of the weights at `step`, asked for with request_weights / watch_weights."""

    step: int
    snapshot: WeightsSnapshot


@dataclass(frozen=True)
class AttentionEvent:
    """Attention maps on a prompt at `step`, asked for with request_attention / watch_attention."""

    step: int
    maps: AttentionMaps


TrainEvent = Union[StepEvent, EvalEvent, SampleEvent, CheckpointEvent, StatusEvent, WarningEvent,
                   WeightsEvent, AttentionEvent, AccuracyEvent]

# The kinds written to metrics.jsonl (Weights and Attention events are not: see the top).
EVENT_KINDS: dict[str, type] = {
    "step": StepEvent,
    "eval": EvalEvent,
    "accuracy": AccuracyEvent,
    "sample": SampleEvent,
    "checkpoint": CheckpointEvent,
    "status": StatusEvent,
    "warning": WarningEvent,
}
_KIND_OF = {cls: kind for kind, cls in EVENT_KINDS.items()}


def event_to_dict(event: TrainEvent) -> dict[str, Any]:
    """A flat JSON-able dict with the event's kind under "event"; non-finite floats -> None.

    TypeError for a WeightsEvent or AttentionEvent: they hold arrays and are never logged.
    """
    kind = _KIND_OF.get(type(event))
    if kind is None:
        raise TypeError(f"A {type(event).__name__} is not written to the run log: it holds "
                        "arrays, and only the training loop's consumer receives it.")
    out: dict[str, Any] = {"event": kind}
    for field in dataclasses.fields(event):
        value = getattr(event, field.name)
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        out[field.name] = value
    return out


def event_from_dict(d: dict[str, Any]) -> TrainEvent | None:
    """Inverse of `event_to_dict`; None for an unknown kind or a malformed record.

    Unknown extra keys are ignored (files written by a newer version still load); a None where a
    float belongs becomes NaN.
    """
    cls = EVENT_KINDS.get(d.get("event")) if isinstance(d, dict) else None
    if cls is None:
        return None
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if field.name not in d:
            continue
        value = d[field.name]
        if value is None and field.type == "float":
            value = math.nan
        kwargs[field.name] = value
    try:
        return cls(**kwargs)
    except TypeError:  # a required field is missing
        return None
