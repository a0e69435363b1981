"""`TrainControl`: pause, resume, stop and re-tune a training loop from another thread.

The trainer never gets interrupted; it *asks* its control between steps (and between the
micro-batches of a long accumulated step) whether to go on. That keeps the model consistent:
a step is either applied whole or not at all. Any thread may call the methods; the state lives
in `threading.Event`s and a lock, so there is no polling and no sleeping.

Changing the learning rate mid-run: `set_learning_rate(lr)` sets a new *peak*. The schedule keeps
its shape (warmup, cosine, floor) and is scaled by lr / config.learning_rate from the next step
on, min_lr included. So setting the configured peak again restores the original schedule, and a
change during warmup still warms up. The new peak is saved in checkpoints, so a resumed run keeps
it. Left out: the loop itself (`trainer.py`).
"""

from __future__ import annotations

import threading

from gptstudio.core.train.config import check_learning_rate


class TrainControl:
    """Thread-safe switches read by the trainer between steps."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        # Set while running, cleared while paused: the trainer waits on it when paused.
        self._running = threading.Event()
        self._running.set()
        self._lock = threading.Lock()
        self._peak_lr: float | None = None

    def pause(self) -> None:
        """Ask the trainer to pause before its next step (or micro-step)."""
        self._running.clear()

    def resume(self) -> None:
        """Let a paused trainer go on."""
        self._running.set()

    def stop(self) -> None:
        """Ask the trainer to save and finish before its next step; also ends a pause."""
        self._stop.set()
        self._running.set()  # a paused trainer must wake up to see the stop

    @property
    def paused(self) -> bool:
        """True between `pause()` and `resume()` (unless stopped)."""
        return not self._running.is_set() and not self._stop.is_set()

    @property
    def stopped(self) -> bool:
        """True once `stop()` was called; it cannot be undone."""
        return self._stop.is_set()

    def wait_while_paused(self, timeout: float | None = None) -> bool:
        """Block until resumed or stopped; True unless the timeout ran out first."""
        return self._running.wait(timeout)

    def set_learning_rate(self, lr: float) -> None:
        """Use `lr` as the schedule's peak from the next step on (see the module docstring)."""
        lr = check_learning_rate(lr, "The learning rate")
        with self._lock:
            self._peak_lr = lr

    @property
    def learning_rate(self) -> float | None:
        """The peak set by `set_learning_rate`, or None if it was never called."""
        with self._lock:
            return self._peak_lr
