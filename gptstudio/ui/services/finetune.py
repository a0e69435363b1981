"""`FinetuneLab`: the Fine-tune tab's background work besides training itself.

Four kinds of background work, each in its own `WorkerPlace` (a newer request retires an older
one, so only the answer to the latest request arrives):
- a **preview** of the fine-tune the options describe (`core.finetune.preview`): the data file
  read and encoded with the base run's tokenizer, the trainable-parameter count (a model built
  on the "meta" device: shapes only) and one example marked as the loss sees it;
- a **prediction** for a typed text by a classification run (`load_classifier(run).predict`);
  the classifier is loaded once per checkpoint and kept, so the next text is answered at once;
- a classification run's **report** (`classification_report`: every split read whole);
- an instruction run's **held-out responses** (`held_out_responses`: greedy answers to the first
  `HELD_OUT_SHOWN` test records beside their references, scored; shown, not written in the run).
Training goes through the training service (`TrainingService.start_finetune`), the one
training at a time. The tab owns the lab and shuts it down on `Session.closing`.
Left out: widgets, and the engine work (gptstudio.core.finetune).
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from gptstudio.core.errors import Cancelled
from gptstudio.core.finetune import Classifier, FinetuneSpec, classification_report, \
    held_out_responses, load_classifier
from gptstudio.core.finetune.preview import FinetunePreview, preview_finetune
from gptstudio.core.train import Run
from gptstudio.ui.workers import TaskWorker, WorkerPlace

HELD_OUT_SHOWN = 10  # held-out records an instruction run answers for the tab


class FinetuneLab(QObject):
    """See the module docstring."""

    preview_ready = Signal(object)  # FinetunePreview
    preview_failed = Signal(str)
    prediction_ready = Signal(object)  # (text, Prediction, checkpoint step)
    prediction_failed = Signal(str)
    report_ready = Signal(object)  # (run folder, ClassificationReport, checkpoint step)
    report_failed = Signal(str)
    responses_ready = Signal(object)  # (run folder, ResponseReport, checkpoint step, n_test)
    responses_progress = Signal(object)  # (records answered, records to answer)
    responses_failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._preview = WorkerPlace("finetune-preview", self)
        self._preview.succeeded.connect(self._on_preview)
        self._preview.failed.connect(self.preview_failed)
        self._predict = WorkerPlace("finetune-predict", self)
        self._predict.succeeded.connect(self._on_answer)
        self._predict.failed.connect(self.prediction_failed)
        self._report = WorkerPlace("finetune-report", self)
        self._report.succeeded.connect(self._on_answer)
        self._report.failed.connect(self.report_failed)
        self._responses = WorkerPlace("finetune-responses", self)
        self._responses.succeeded.connect(self._on_answer)
        self._responses.progressed.connect(self.responses_progress)
        self._responses.failed.connect(self.responses_failed)
        self._classifiers: dict[tuple[str, str], Classifier] = {}  # (run, checkpoint): loaded
        self._lock = threading.Lock()

    @property
    def previewing(self) -> bool:
        return self._preview.busy

    def request_preview(self, base_run: Path, spec: FinetuneSpec) -> None:
        """Compute `spec`'s preview on `base_run` in the background (`preview_ready`)."""
        self._preview.start(TaskWorker(lambda _progress, _cancel:
                                       preview_finetune(base_run, spec)))

    def cancel_preview(self) -> None:
        self._preview.retire()

    def classify(self, run_dir: Path, text: str) -> None:
        """The label of `text` by the classifier in `run_dir` (`prediction_ready`)."""
        self._predict.start(TaskWorker(lambda _progress, _cancel:
                                       self._predict_now(Path(run_dir), text)))

    def report(self, run_dir: Path) -> None:
        """Loss, accuracy and confusion of every split, read whole (`report_ready`)."""
        def job(_progress, _cancel) -> tuple[str, Path, object, int]:
            latest = Run.open(run_dir).latest_checkpoint()
            step = latest.step if latest is not None else 0
            return "report", Path(run_dir), classification_report(run_dir), step
        self._report.start(TaskWorker(job))

    def responses(self, run_dir: Path, limit: int = HELD_OUT_SHOWN) -> None:
        """The instruction run's answers to its first `limit` test records (`responses_ready`)."""
        def job(progress, cancel) -> tuple:
            run = Run.open(run_dir)
            latest = run.latest_checkpoint()

            def answered(done: int, total: int) -> None:
                if cancel.is_set():
                    raise Cancelled("The held-out answers were not needed any more.")
                progress((done, total))

            report = held_out_responses(run_dir, limit=limit, write=False, progress=answered)
            n_test = run.data_config.get("n_test")
            return ("responses", Path(run_dir), report, latest.step if latest else 0,
                    n_test if isinstance(n_test, int) else len(report.responses))
        self._responses.start(TaskWorker(job))

    def _predict_now(self, run_dir: Path, text: str) -> tuple[str, str, object, int]:
        """In the worker thread: load (or reuse) the run's latest classifier and predict."""
        latest = Run.open(run_dir).latest_checkpoint()
        key = (str(run_dir), str(latest.path) if latest is not None else "")
        with self._lock:
            classifier = self._classifiers.get(key)
        if classifier is None:
            classifier = load_classifier(run_dir)  # clear errors: no checkpoint, not a classifier
            with self._lock:
                self._classifiers = {key: classifier}  # one kept: the newest
        return "prediction", text, classifier.predict(text), latest.step if latest else 0

    @Slot(object)
    def _on_preview(self, preview: FinetunePreview) -> None:
        self.preview_ready.emit(preview)

    @Slot(object)
    def _on_answer(self, result: tuple) -> None:
        kind, *answer = result
        signal = {"report": self.report_ready, "prediction": self.prediction_ready,
                  "responses": self.responses_ready}[kind]
        signal.emit(tuple(answer))

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        return all([place.shutdown(timeout_ms)
                    for place in (self._preview, self._predict, self._report,
                                  self._responses)])
