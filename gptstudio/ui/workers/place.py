"""`WorkerPlace`: one slot for a background worker, which relays only the current worker's news.

A service keeps one place per kind of work ("corpus", "tokenizer", "train", "inference").
Starting a worker in a busy place retires the old one: it is asked to stop, whatever it still
reports is dropped, and its thread object is kept until the thread has really ended (Qt aborts
the process when a running QThread is destroyed, PITFALLS). The place's own signals carry the
current worker's results, so a service connects to the place once and never asks "is this
worker still the current one?" itself: that check exists here, once (`_from_current`).

Signals are relayed by `@Slot` methods of this GUI-thread object, so they are emitted in the GUI
thread (a lambda connected to a worker would run in the worker's thread, PITFALLS).
Left out: what the workers compute.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal, Slot

from gptstudio.ui.workers.base import Worker, WorkerHandle, start_worker

THREAD_END_WAIT_MS = 5_000  # a worker that has reported only has to leave run()


class WorkerPlace(QObject):
    """One current worker at a time; see the module docstring.

    `succeeded`, `failed` (a message) and `cancelled` end the worker's turn: the place is free
    again (and its thread has ended) when they are emitted. `progressed` and `event_reported`
    carry what a worker reports on its way (a TaskWorker's progress, the training worker's
    events).
    """

    progressed = Signal(object)
    event_reported = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self._current: WorkerHandle | None = None
        self._retired: list[WorkerHandle] = []
        self.closed = False  # after shutdown() nothing starts here (late timers, queued calls)

    @property
    def busy(self) -> bool:
        return self._current is not None

    @property
    def worker(self) -> Worker | None:
        return self._current.worker if self._current is not None else None

    def start(self, worker: Worker) -> bool:
        """Run `worker` here (retiring the current one); False once the place is shut down."""
        if self.closed:
            return False
        self.retire()
        for name in ("progressed", "event_reported"):  # what a worker reports on its way
            signal = getattr(worker, name, None)
            if signal is not None:
                signal.connect(getattr(self, f"_on_{name}"))
        worker.succeeded.connect(self._on_succeeded)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        handle = start_worker(worker, f"{self.name}-worker")
        handle.thread.finished.connect(self._reap)
        self._current = handle
        return True

    def retire(self) -> None:
        """Ask the current worker to stop, without waiting; its later news is dropped."""
        handle, self._current = self._current, None
        if handle is not None:
            handle.worker.request_stop()
            handle.thread.quit()
            self._retired.append(handle)
        self._reap()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop every worker of this place and wait for its thread; True if all ended in time."""
        self.closed = True
        handles = ([self._current] if self._current is not None else []) + self._retired
        self._current = None
        ok = all([h.stop(timeout_ms) for h in handles])
        self._reap()
        return ok

    # -- the one "is this still the current worker?" check -------------------------------------
    def _from_current(self) -> bool:
        return self._current is not None and self.sender() is self._current.worker

    def _end_turn(self) -> None:
        """The current worker has reported its result: free the place once its thread ends."""
        handle, self._current = self._current, None
        if handle is not None:
            handle.thread.wait(THREAD_END_WAIT_MS)
            self._retired.append(handle)
        self._reap()

    @Slot(object)
    def _on_progressed(self, value: object) -> None:
        if self._from_current():
            self.progressed.emit(value)

    @Slot(object)
    def _on_event_reported(self, value: object) -> None:
        if self._from_current():
            self.event_reported.emit(value)

    @Slot(object)
    def _on_succeeded(self, result: object) -> None:
        if self._from_current():
            self._end_turn()
            self.succeeded.emit(result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self._from_current():
            self._end_turn()
            self.failed.emit(message)

    @Slot()
    def _on_cancelled(self) -> None:
        if self._from_current():
            self._end_turn()
            self.cancelled.emit()

    @Slot()
    def _reap(self) -> None:
        self._retired = [h for h in self._retired if h.is_running()]
