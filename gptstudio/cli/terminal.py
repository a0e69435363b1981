"""Progress on a terminal or in a log: which one a stream is, and how often to log a line.

A terminal redraws one line in place with "\\r"; a file or a pipe (the log of a headless or
torchrun job) would pile those redraws up into one endless line, so there the CLI writes a plain
line now and then instead. Standard library only: the tokenizer commands use it without torch.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is an interactive terminal (where "\\r" redraws a line in place)."""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class LogCadence:
    """When a non-terminal display writes a progress line: at each tenth of the work, at the
    end, and at least every `seconds` in between (so a long tenth still shows signs of life)."""

    def __init__(self, seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds, self.clock = seconds, clock
        self._last_time = clock()
        self._last_tenth = 0

    def due(self, done: int, total: int) -> bool:
        """Whether a line is due now, `done` of `total` units of work in."""
        tenth = done * 10 // max(total, 1)
        now = self.clock()
        if done >= total or tenth > self._last_tenth or now - self._last_time >= self.seconds:
            self._last_tenth, self._last_time = tenth, now
            return True
        return False
