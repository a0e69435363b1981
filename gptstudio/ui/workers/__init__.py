"""Background work on QThreads: the worker base, the place that keeps one current worker, and
the training worker. Import the names from here (`from gptstudio.ui.workers import TaskWorker`).
"""

from gptstudio.ui.workers.base import (
    TaskWorker,
    Worker,
    WorkerHandle,
    describe_error,
    running_workers,
    start_worker,
)
from gptstudio.ui.workers.place import WorkerPlace

__all__ = ["TaskWorker", "Worker", "WorkerHandle", "WorkerPlace", "describe_error",
           "running_workers", "start_worker"]
