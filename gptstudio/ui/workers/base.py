"""Background work on QThreads: a worker base class, a helper that starts it, a generic task worker.

The pattern (napari's, STYLE.md 6): a QObject worker is moved to its own QThread; it emits plain
data through signals; it catches its own exceptions and reports them as `failed(str)`; it stops
cooperatively when its `threading.Event` is set — never `QThread.terminate()`. Receivers must be
`@Slot` methods (or signals, as relays) of QObjects living in the GUI thread — a lambda or a
plain function connected to a worker's signal runs in the worker's thread (PITFALLS).

This module leaves out what any particular worker computes (see `train.py`) and which worker is
current (see `place.py`).
"""

from __future__ import annotations

import logging
import threading
import traceback
import weakref
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot

from gptstudio.core.errors import Cancelled, GPTStudioError

log = logging.getLogger(__name__)

# Every worker started here, weakly held, so tests can fail when one is left running.
_STARTED: weakref.WeakSet[WorkerHandle] = weakref.WeakSet()


def running_workers() -> list[WorkerHandle]:
    """Workers started by `start_worker` whose thread is still running."""
    return [h for h in list(_STARTED) if h.is_running()]


def describe_error(exc: BaseException) -> str:
    """A message a person can act on: ours verbatim, anything else with its type and a hint."""
    if isinstance(exc, GPTStudioError):
        return str(exc)
    if isinstance(exc, MemoryError) or "out of memory" in str(exc).lower():
        return ("The computer ran out of memory. Choose a smaller model, a smaller batch size "
                "or a shorter block size, then start again.")
    return f"Unexpected error ({type(exc).__name__}): {exc}"


class Worker(QObject):
    """Base of every background worker: run once, report `finished`, `failed` or `cancelled`.

    Subclasses implement `work()`; they check `self.cancel_event` between units of work.
    Exactly one of `succeeded`, `failed`, `cancelled` is emitted, then always `finished`.
    """

    succeeded = Signal(object)  # the result of work()
    failed = Signal(str)  # a message for a person
    cancelled = Signal()
    finished = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.cancel_event = threading.Event()

    def work(self) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError

    def request_stop(self) -> None:
        """Ask the worker to stop at its next check; safe to call from any thread."""
        self.cancel_event.set()

    @Slot()
    def run(self) -> None:
        try:
            result = self.work()
        except Cancelled:
            self.cancelled.emit()
        except GPTStudioError as exc:  # a person's input was refused: the message says all
            log.info("worker %s: %s", type(self).__name__, exc)
            self.failed.emit(describe_error(exc))
        except Exception as exc:  # noqa: BLE001 - a worker must never die silently
            log.error("worker %s failed:\n%s", type(self).__name__, traceback.format_exc())
            self.failed.emit(describe_error(exc))
        else:
            if self.cancel_event.is_set():
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
        finally:
            self.finished.emit()


class WorkerHandle:
    """A running worker and its thread; `stop()` ends both cleanly."""

    def __init__(self, worker: Worker, thread: QThread) -> None:
        self.worker = worker
        self.thread = thread

    def is_running(self) -> bool:
        return self.thread.isRunning()

    def stop(self, timeout_ms: int = 30_000) -> bool:
        """Request a stop, end the thread's event loop and wait; True if the thread ended."""
        self.worker.request_stop()
        self.thread.quit()
        return self.thread.wait(timeout_ms)


def start_worker(worker: Worker, name: str) -> WorkerHandle:
    """Move `worker` to a new QThread named `name` and start it.

    The thread quits when the worker finishes. The caller keeps the returned handle (Python
    owns both objects) and must `stop()` it before the app exits — destroying a running QThread
    aborts the process (PITFALLS).
    """
    thread = QThread()
    thread.setObjectName(name)
    worker.moveToThread(thread)
    thread.started.connect(worker.run)
    # Direct connection: quit() is thread-safe, and the thread's event loop must end right after
    # run() returns even if nobody in the GUI thread is processing events.
    worker.finished.connect(thread.quit, Qt.ConnectionType.DirectConnection)
    handle = WorkerHandle(worker, thread)
    _STARTED.add(handle)
    thread.start()
    return handle


class TaskWorker(Worker):
    """Runs `fn(progress, cancel)` in the background and forwards its progress events.

    `fn` is an engine function (download, BPE training, tokenization) that accepts a progress
    callback and a cancel event; its events are emitted unchanged through `progressed`.
    """

    progressed = Signal(object)

    def __init__(self, fn: Callable[[Callable[[Any], None], threading.Event], Any]) -> None:
        super().__init__()
        self._fn = fn

    def work(self) -> Any:
        return self._fn(self.progressed.emit, self.cancel_event)
