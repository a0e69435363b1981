"""The headless training display: a one-line progress bar and a line per evaluation.

It consumes the engine's training events (plain dataclasses) and writes to stderr, so that stdout
stays free for results. On a terminal the bar redraws in place; in a file or a pipe (the log of a
headless or torchrun job) it becomes a plain line now and then (`terminal.py`).
Left out: the training itself (`gptstudio.core.train`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from gptstudio.cli.terminal import LogCadence, is_terminal
from gptstudio.core.train import (
    CheckpointEvent,
    EvalEvent,
    SampleEvent,
    StatusEvent,
    StepEvent,
    TrainEvent,
    WarningEvent,
)

if TYPE_CHECKING:
    from gptstudio.core.pipeline import PreparedTraining


def format_duration(seconds: float) -> str:
    """4125.3 -> '1:08:45'; 42 -> '0:42'."""
    if seconds != seconds or seconds < 0:  # NaN or negative: unknown
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def progress_line(event: StepEvent, width: int = 24) -> str:
    """'step 120/500 [=====>        ] loss 2.3451 | 12.3k tok/s | ETA 0:42'."""
    total = max(event.max_steps, 1)
    filled = min(width, int(width * event.step / total))
    bar = "=" * filled + (">" if filled < width else "") + " " * max(0, width - filled - 1)
    rate = event.tokens_per_sec
    rate_text = f"{rate / 1000:.1f}k" if rate >= 1000 else f"{rate:.0f}"
    return (f"step {event.step}/{event.max_steps} [{bar}] loss {event.loss:.4f} | "
            f"{rate_text} tok/s | ETA {format_duration(event.eta)}")


class TrainProgress:
    """Shows a run's events: on a terminal a bar redrawn at most 10 times a second, elsewhere
    a progress line at each tenth of the run (and every 30 s)."""

    def __init__(self, prepared: PreparedTraining, *, quiet: bool = False,
                 stream: TextIO | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet
        self.interactive = is_terminal(self.stream)
        self._cadence = LogCadence(clock=clock)
        self._bar_shown = False
        self._last_draw = 0.0
        self._last_step: StepEvent | None = None
        verb = "resuming" if prepared.resumed else "training"
        self._line(f"{verb} {prepared.n_params:,}-parameter model on {prepared.corpus.name} "
                   f"({prepared.n_train_tokens:,} train / {prepared.n_val_tokens:,} val tokens) "
                   f"-> {prepared.run.path}")

    def show(self, event: TrainEvent) -> None:
        """Draw or print what `event` says (steps: the bar, or a line now and then)."""
        if isinstance(event, StepEvent):
            self._last_step = event
            if not self.interactive:
                if self._cadence.due(event.step, event.max_steps):
                    self._line(progress_line(event))
                return
            now = time.monotonic()
            if not self.quiet and (now - self._last_draw > 0.1 or event.step == event.max_steps):
                self._last_draw = now
                self.stream.write("\r" + progress_line(event) + " ")
                self.stream.flush()
                self._bar_shown = True
        elif isinstance(event, EvalEvent):
            self._line(f"step {event.step}: train loss {event.train_loss:.4f}, val loss "
                       f"{event.val_loss:.4f} (perplexity {event.val_ppl:.2f}, "
                       f"{event.val_bpb:.3f} bits/byte){' best' if event.best else ''}")
        elif isinstance(event, SampleEvent):
            self._line(f"sample at step {event.step}: {event.text!r}")
        elif isinstance(event, CheckpointEvent):
            self._line(f"checkpoint saved: {event.path}")
        elif isinstance(event, WarningEvent):
            self._line(f"warning at step {event.step}: {event.message}", always=True)
        elif isinstance(event, StatusEvent) and event.message:
            self._line(event.message)

    def interrupted(self, why: str = "interrupted") -> None:
        """Say that a stop was asked for (`why`: "interrupted", "terminated")."""
        self._line(f"{why}: finishing the current step and saving a checkpoint...")

    def checkpoint_requested(self) -> None:
        """Say that a checkpoint was asked for (it is saved after the current step)."""
        self._line("checkpoint requested: saving it after the current step...")

    def close(self) -> None:
        """End a bar drawn in place with its newline."""
        if self._bar_shown:
            self.stream.write("\n")
            self._bar_shown = False
        self.stream.flush()

    def _line(self, text: str, *, always: bool = False) -> None:
        if self.quiet and not always:  # --quiet keeps the warnings
            return
        if self._bar_shown:
            self.stream.write("\r\033[K")  # clear the bar, print the line, redraw the bar after
        self.stream.write(text + "\n")
        if self._bar_shown and self._last_step is not None:
            self.stream.write("\r" + progress_line(self._last_step) + " ")
        self.stream.flush()
