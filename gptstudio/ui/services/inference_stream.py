"""The inference service's second worker: jobs that report as they go (generating text).

`InferenceService.submit(job)` answers once; a generation streams tokens for seconds and must
not be retired by another tab's quick request (attention on a prompt), nor retire it. So streams
get their own `WorkerPlace`: `InferenceStreams.start(job, source, precision)` runs
`job(model, tokenizer, progress, cancel)` there, where `progress(value)` reaches the GUI thread
through the place's `progressed` relay and `cancel` is the worker's stop event (a generation
checks it before every token). A newer stream retires the older one; `stop()` asks the current
one to end now. The model is the service's (a checkpoint, or the live run's latest snapshot:
never the training tensors), on the service's device; `precision="bf16"` runs on a bf16 copy
of it, kept for the next request on the same model (`core.inference_precision`).

Signals (GUI thread, request id first): `progressed(id, value)`, `finished(id, result)`,
`failed(id, message)`, `stopped(id)`. Left out: what the jobs compute (the tabs' job functions,
engine calls) and which model is chosen (`inference.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal, Slot
from torch import nn

from gptstudio.core.inference_precision import check_precision, inference_model
from gptstudio.core.tokenizers import Tokenizer
from gptstudio.ui.workers import TaskWorker, WorkerPlace

if TYPE_CHECKING:
    from gptstudio.ui.services.inference import InferenceService, ModelSource

StreamJob = Callable[[nn.Module, Tokenizer, Callable[[Any], None], threading.Event], object]


class InferenceStreams(QObject):
    """See the module docstring; owned by the InferenceService (`service.streams`)."""

    progressed = Signal(int, object)
    finished = Signal(int, object)
    failed = Signal(int, str)
    stopped = Signal(int)

    def __init__(self, service: InferenceService) -> None:
        super().__init__(service)
        self.service = service
        self._request = 0
        self._running: int | None = None
        self._waiting: tuple[int, StreamJob, ModelSource, str] | None = None
        self._low: dict[tuple, nn.Module] = {}  # the bf16 copy of the last model asked for
        self._low_lock = threading.Lock()
        self._place = WorkerPlace("inference-stream", self)
        self._place.progressed.connect(self._on_progressed)
        self._place.succeeded.connect(self._on_succeeded)
        self._place.failed.connect(self._on_failed)
        self._place.cancelled.connect(self._on_cancelled)
        service.weights_ready.connect(self._on_weights_ready)

    @property
    def busy(self) -> bool:
        return self._running is not None or self._waiting is not None

    def start(self, job: StreamJob, source: ModelSource | None = None,
              precision: str = "fp32") -> int:
        """Run `job` on `source` (default: the service's current one); the request id."""
        check_precision(precision)
        self._request += 1
        request = self._request
        source = source if source is not None else self.service.source()
        self._waiting = None
        if source is None:
            self._place.retire()
            self._running = None
            self.failed.emit(request, "There is no model yet: train one, or open a run.")
        elif source.kind == "live" and self.service.latest_weights is None:
            self._place.retire()
            self._running = None
            self._waiting = (request, job, source, precision)  # run it on the first snapshot
            self.service.training.request_weights()
        else:
            self._launch(request, job, source, precision)
        return request

    def stop(self) -> None:
        """Ask the current stream to end before its next step (a waiting one never starts)."""
        if self._waiting is not None:
            request, self._waiting = self._waiting[0], None
            self.stopped.emit(request)
        worker = self._place.worker
        if worker is not None:
            worker.request_stop()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        self._waiting = None
        return self._place.shutdown(timeout_ms)

    def _launch(self, request: int, job: StreamJob, source: ModelSource, precision: str) -> None:
        service = self.service
        snapshot = service.latest_weights if source.kind == "live" else None
        if snapshot is not None:  # the live model is the snapshot's step, whatever was asked
            source = replace(source, step=snapshot.step)
        run = service.training.current_run
        tokenizer = run.tokenizer if source.kind == "live" and run is not None else None
        if source.kind == "live":
            service.training.request_weights()  # a fresher snapshot for the next request
        device = service.device(source)  # decided here, in the GUI thread

        def work(progress: Callable[[Any], None], cancel: threading.Event) -> object:
            model, tok = service._model(source, snapshot, tokenizer, device)  # noqa: SLF001
            return job(self._with_precision(model, source, precision), tok, progress, cancel)

        self._running = request
        self._place.start(TaskWorker(work))

    def _with_precision(self, model: nn.Module, source: ModelSource, precision: str) -> nn.Module:
        """In the worker: `model` itself for fp32, else its bf16 copy (made once per model)."""
        if precision == "fp32":
            return model
        key = (source.kind, source.step, source.path, id(model), precision)
        with self._low_lock:
            if key not in self._low:
                self._low = {key: inference_model(model, precision)}
            return self._low[key]

    # -- the place's news (current worker only) ------------------------------------------------
    @Slot(object)
    def _on_progressed(self, value: object) -> None:
        if self._running is not None:
            self.progressed.emit(self._running, value)

    @Slot(object)
    def _on_succeeded(self, result: object) -> None:
        request, self._running = self._running, None
        if request is not None:
            self.finished.emit(request, result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        request, self._running = self._running, None
        if request is not None:
            self.failed.emit(request, message)

    @Slot()
    def _on_cancelled(self) -> None:
        request, self._running = self._running, None
        if request is not None:
            self.stopped.emit(request)

    @Slot(object)
    def _on_weights_ready(self, _snapshot: object) -> None:
        if self._waiting is not None:
            request, job, source, precision = self._waiting
            self._waiting = None
            self._launch(request, job, source, precision)
