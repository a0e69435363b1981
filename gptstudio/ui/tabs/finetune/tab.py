"""The Fine-tune tab: turn a pretrained run into a classifier or an instruction follower.

Left (`setup_panel.py`): the options (`options.py`), what trains (the trainable-parameter
count) and training examples with their masked tokens shaded (`mask_view.py`); both come from
core's preview, computed in the lab's worker (`ui/services/finetune.py`) a moment after the
options stop changing, while the tab is shown. Start (or Ctrl+Enter in the tab) hands a
`FinetuneJob` to the training service (`start_finetune`): one training at a time, the same
Pause/Stop and states as the Train tab, `prepare_finetune` and the loop in the worker thread
(Ctrl+Enter: `keys.py`).
Middle: the live loss and accuracy curves, fed by the service's one event signal through
`RunHistory.add_event` (`AccuracyEvent` included). Right (`results.RunPanel`): the validation
confusion matrix of the latest evaluation, then core's report on the whole test split; a "try
it" box (a classification run's `predict`, in the lab's worker); for an instruction run, its
answers to held-out records beside the references with core's scores (`held_out_responses`, in
the lab's worker) and a button that opens its chat on the Generate tab. A stopped fine-tune
shown here (stopped in this tab, or opened) is what Start continues (`_resume`): the training
service resumes it from its last checkpoint, as the Train tab's Start does; changing an option
means a new fine-tune instead.
Left out: the engine work (gptstudio.core.finetune), the widgets' insides (their modules).
"""

from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QScrollArea, QSplitter, QWidget

from gptstudio.core.errors import GPTStudioError
from gptstudio.core.finetune.preview import FinetunePreview
from gptstudio.core.train import AccuracyEvent, Run
from gptstudio.ui.history import RunHistory
from gptstudio.ui.services.finetune import FinetuneLab
from gptstudio.ui.services.run_files import OpenedRun, list_runs
from gptstudio.ui.services.state import IDLE, PAUSED, TrainingState
from gptstudio.ui.session import Session
from gptstudio.ui.tabs.base import Tab
from gptstudio.ui.tabs.finetune.keys import StartKey
from gptstudio.ui.tabs.finetune.options import base_run_choices, new_finetune_dir, \
    preview_texts
from gptstudio.ui.tabs.finetune.results import AccuracyPlot, RunPanel
from gptstudio.ui.tabs.finetune.setup_panel import SetupPanel
from gptstudio.ui.theme import PlotTheme
from gptstudio.ui.widgets.learn_panel import LearnPanel
from gptstudio.ui.widgets.plots import LossPlot
from gptstudio.ui.workers.finetune import FinetuneJob
from gptstudio.ui.workers.train import RunStarted

PREVIEW_SETTLE_MS = 250  # after the last change of an option, compute the preview
REDRAW_MS = 100


class FinetuneTab(StartKey, QWidget, Tab):
    """See the module docstring."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.lab = FinetuneLab(self)
        self.history = RunHistory(name="fine-tune")
        self.preview: FinetunePreview | None = None
        self.run_dir: Path | None = None  # the fine-tune shown: training, trained or opened
        self.run_task: str | None = None
        self._live = False  # the training service's current run is a fine-tune shown here
        self._preview_pending = False  # options changed while the tab was hidden
        self._resume: Path | None = None  # the stopped fine-tune shown here: Start continues it

        self.setup = SetupPanel()
        self.options, self.mask, self.error = self.setup.options, self.setup.mask, self.setup.error
        self.trainable, self.summary = self.setup.trainable, self.setup.summary
        self.start_button, self.pause_button = self.setup.start_button, self.setup.pause_button
        self.stop_button, self.state_label = self.setup.stop_button, self.setup.state_label
        self.loss_plot = LossPlot()
        self.loss_plot.setObjectName("finetuneLossPlot")
        self.accuracy_plot = AccuracyPlot()
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.set_history(self.history)
        self.results = RunPanel()
        self.confusion, self.try_it = self.results.confusion, self.results.try_it
        self.learn = LearnPanel("finetune")
        self._lay_out()

        self.preview_timer = QTimer(self)
        self.preview_timer.setSingleShot(True)
        self.preview_timer.setInterval(PREVIEW_SETTLE_MS)
        self.preview_timer.timeout.connect(self.request_preview)
        self.redraw_timer = QTimer(self)
        self.redraw_timer.setInterval(REDRAW_MS)
        self.redraw_timer.timeout.connect(self.redraw)
        self.redraw_timer.start()

        training, runs, lab = session.training, session.runs, self.lab
        self.options.changed.connect(self._on_options_changed)
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(training.toggle_pause)
        self.stop_button.clicked.connect(lambda: training.stop())  # saving (not clicked's bool)
        self.try_it.classify_requested.connect(self.classify)
        self.results.chat_button.clicked.connect(self.open_chat)
        lab.preview_ready.connect(self._on_preview)
        lab.preview_failed.connect(self._on_preview_failed)
        lab.prediction_ready.connect(self._on_prediction)
        lab.prediction_failed.connect(self._on_prediction_failed)
        lab.report_ready.connect(self._on_report)
        lab.report_failed.connect(self.results.confusion_note.setText)
        lab.responses_ready.connect(self._on_responses)
        lab.responses_progress.connect(self.results.responses.show_progress)
        lab.responses_failed.connect(self.results.responses.clear)
        training.state_changed.connect(self._on_state_changed)
        training.run_started.connect(self._on_run_started)
        training.event_reported.connect(self._on_event)
        runs.run_opened.connect(self._on_run_opened)
        runs.run_closed.connect(self._on_run_closed)
        runs.runs_changed.connect(self.refresh_base_runs)
        session.closing.connect(self._on_closing)
        self.refresh_base_runs()
        self._show_task(self.options.task_name)
        self._on_state_changed(training.state)

    def _lay_out(self) -> None:
        middle = QSplitter(Qt.Orientation.Vertical)
        middle.addWidget(self.loss_plot)
        middle.addWidget(self.accuracy_plot)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget in (self.setup, middle, self.results):
            splitter.addWidget(widget)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 2)
        splitter.setSizes([360, 420, 340])
        # In a small window the tab scrolls instead of forcing the window larger.
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(splitter)
        layout = QHBoxLayout(self)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.learn)

    def apply_theme(self, theme: PlotTheme) -> None:
        super().apply_theme(theme)
        for widget in (self.loss_plot, self.accuracy_plot, self.mask, self.confusion):
            widget.apply_theme(theme)

    # -- the options and their preview ---------------------------------------------------------
    @Slot()
    def refresh_base_runs(self) -> None:
        """Offer the runs folder's runs and the recent ones as bases."""
        runs = self.session.runs
        paths = [*list_runs(runs.root), *map(Path, runs.recent_runs())]
        self.options.set_base_runs(base_run_choices(paths))

    @Slot()
    def _on_options_changed(self) -> None:
        self._resume = None  # changed options describe a new fine-tune
        self.lab.cancel_preview()  # an answer for the old options must not arrive now
        self._show_task(self.options.task_name)
        self.preview = None
        self.start_button.setEnabled(False)
        self.preview_timer.start()

    def _show_task(self, task: str) -> None:
        self.accuracy_plot.setVisible(task == "classification")
        self.results.set_task(task)

    @Slot()
    def request_preview(self) -> None:
        """Ask the lab for the preview of the current options (or say what is missing); a
        hidden tab waits until it is shown (no work for a tab nobody looks at)."""
        if not self.isVisible():
            self._preview_pending = True
            return
        self._preview_pending = False
        options = self.options
        if options.base_run is None:
            return self._no_preview("Choose a base run: a pretrained run or a GPT-2 import "
                                    "(File → Import GPT-2…), or Browse… for a run folder.")
        if options.data is None:
            return self._no_preview("Choose a data file: labelled texts, or instruction "
                                    "records (Alpaca-style JSON: instruction, input, output).")
        try:
            spec = options.spec()
        except GPTStudioError as exc:
            return self._no_preview(str(exc), error=True)
        self.trainable.setText("Counting the parameters that train…")
        self.lab.request_preview(options.base_run, spec)

    def _no_preview(self, message: str, *, error: bool = False) -> None:
        self.lab.cancel_preview()
        self.preview = None
        self.trainable.setText("")
        self.summary.setText("")
        self.error.show_error(message if error else None)
        self.mask.show_message(message)
        self._on_state_changed(self.session.training.state)

    @Slot(object)
    def _on_preview(self, preview: FinetunePreview) -> None:
        self.preview = preview
        self.options.set_block_count(preview.n_layer)
        self.error.show_error(None)
        trainable, summary = preview_texts(preview)
        self.trainable.setText(trainable)
        self.summary.setText(summary)
        self.mask.show_examples(preview.examples)
        self._on_state_changed(self.session.training.state)

    @Slot(str)
    def _on_preview_failed(self, message: str) -> None:
        self._no_preview(message, error=True)

    # -- training ------------------------------------------------------------------------------
    @Slot()
    def start(self) -> bool:
        """Continue the stopped fine-tune shown, else start the one the options describe;
        False (and why) if it cannot start."""
        options, training = self.options, self.session.training
        if not training.state.allows("start"):
            return False
        if self.resumable:  # the training service continues the current run: this one
            return training.start()
        base = options.base_run
        try:
            if base is None or options.data is None:
                raise GPTStudioError("Choose a base run and a data file first.")
            spec = options.spec()
            n_train = self.preview.summary.get("n_train") if self.preview else None
            config = options.train_config(n_train)
        except GPTStudioError as exc:
            self.session.error_raised.emit("Cannot start the fine-tune", str(exc))
            return False
        run_dir = new_finetune_dir(self.session.runs.root, spec.task, spec.data)
        job = FinetuneJob(base, spec, config, run_dir, epochs=options.epochs.value())
        return training.start_finetune(job)

    @property
    def resumable(self) -> bool:
        """Start continues the stopped fine-tune shown here (the window's current run)."""
        opened = self.session.runs.opened
        return self._resume is not None and opened is not None and opened.path == self._resume

    def _offer_resume(self, opened: OpenedRun | None) -> None:
        """Start continues `opened` if it is the fine-tune shown here, stopped before its end."""
        self._resume = None
        if opened is not None and opened.task is not None and opened.path == self.run_dir:
            step, config = opened.last_checkpoint_step, opened.train_config
            if step is None or config is None or step < config.max_steps:
                self._resume = opened.path

    @Slot(object)
    def _on_state_changed(self, state: TrainingState) -> None:
        idle = state is IDLE
        if idle and self._live:  # a fine-tune of this tab has ended: core's final figures
            self._live = False
            self._offer_resume(self.session.runs.opened)
            self._request_report()
        resume = self.resumable
        self.start_button.setEnabled(idle and (resume or self.preview is not None))
        text = "Start fine-tuning"
        if resume:  # a run stopped before its first checkpoint starts over in its folder
            text = "Resume the fine-tune" if self.session.runs.opened.can_resume else "Start over"
        self.start_button.setText(text)
        self.pause_button.setEnabled(self._live and state.allows("pause"))
        self.pause_button.setText("Resume" if state is PAUSED else "Pause")
        self.stop_button.setEnabled(self._live and state.allows("stop"))
        self.options.setEnabled(idle)
        what = "the fine-tune" if self._live else "training (Train tab)"
        self.state_label.setText("" if idle else f"{state.label} — {what}")
        self._show_run_tools()

    @Slot(object)
    def _on_run_started(self, info: RunStarted) -> None:
        self._live, self._resume = info.task is not None, None
        if not self._live:
            return
        self.run_dir, self.run_task = info.path, info.task
        if info.resumed:  # the steps after its checkpoint are dropped (logged again)
            self.history.rewind(info.start_step + 1)
        else:
            self.history.clear()
        self.history.name = info.name
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.set_step_extent(info.max_steps)
        self.results.clear("The confusion matrix comes with the first evaluation.")
        self.results.set_task(info.task)  # what an instruction run is measured by
        if info.task == "classification":
            self.results.accuracy.setText("Evaluating the model before fine-tuning…")
        self.results.show_accuracy(self.history)  # a resumed run's so far
        self._on_state_changed(self.session.training.state)

    @Slot(object)
    def _on_event(self, event: object) -> None:
        if not self._live:
            return
        self.history.add_event(event)
        if isinstance(event, AccuracyEvent):
            self.results.show_accuracy(self.history)

    @Slot(object)
    def _on_run_opened(self, opened: OpenedRun) -> None:
        """An opened fine-tune shows its curves here; any other run becomes a base choice."""
        try:
            task = Run.open(opened.path).data_config.get("task")
        except GPTStudioError:
            return
        if task is None or task == "instructions":
            self.refresh_base_runs()
        if task is None:
            self.options.choose_base(opened.path)
            return
        self.run_dir, self.run_task = opened.path, task
        self.options.task.setCurrentIndex(self.options.task.findData(task))
        self.history.copy_from(opened.history)
        self.results.clear("No evaluation of this run measured accuracy.")
        self.results.show_accuracy(self.history)
        self._request_report()
        self._offer_resume(opened)  # after the options changed: Start continues this run
        self._on_state_changed(self.session.training.state)

    @Slot()
    def _on_run_closed(self) -> None:
        self._resume = None  # New run: Start begins a new fine-tune
        self._on_state_changed(self.session.training.state)

    def _request_report(self) -> None:
        """Every split of the shown classifier, read whole, or the shown instruction run's
        held-out answers (the lab's workers)."""
        if self.run_dir is None or not Run.exists(self.run_dir) or \
                not Run.open(self.run_dir).latest_checkpoint():
            return
        if self.run_task == "classification":
            self.lab.report(self.run_dir)
        elif self.run_task == "instructions":
            self.results.responses.clear("Answering held-out records…")
            self.lab.responses(self.run_dir)

    @Slot(object)
    def _on_responses(self, answer: tuple) -> None:
        run_dir, report, step, n_test = answer
        if run_dir == self.run_dir and not self._live:
            self.results.responses.show_report(report, step, n_test)

    @Slot(object)
    def _on_report(self, answer: tuple) -> None:
        run_dir, report, step = answer
        if run_dir == self.run_dir and not self._live:
            val = self.history.accuracy.column("val_accuracy")
            self.results.show_report(report, step, float(val[0]) if len(val) else math.nan)

    def _show_run_tools(self) -> None:
        """Try-it for a classification run, chat for an instruction run (with a checkpoint)."""
        idle = self.session.training.state is IDLE
        name = self.run_dir.name if self.run_dir is not None else None
        self.results.set_tools(name, classifier=name is not None
                               and self.run_task == "classification",
                               ready=idle or not self._live,
                               chat=idle and name is not None and self.run_task == "instructions")

    # -- using the fine-tuned run --------------------------------------------------------------
    @Slot(str)
    def classify(self, text: str) -> None:
        if self.run_dir is not None:
            self.lab.classify(self.run_dir, text)

    @Slot(object)
    def _on_prediction(self, result: tuple) -> None:
        _, prediction, step = result
        self.try_it.show_prediction(prediction.label, prediction.probabilities, step,
                                    prediction.truncated)

    @Slot(str)
    def _on_prediction_failed(self, message: str) -> None:
        self.try_it.result.setText("")
        self.session.error_raised.emit("Cannot classify the text", message)

    @Slot()
    def open_chat(self) -> None:
        if self.run_dir is not None:
            self.session.open_chat(self.run_dir)

    # -- drawing and lifetime ------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self._preview_pending:
            self.preview_timer.start()

    @Slot()
    def redraw(self, force: bool = False) -> None:
        if self.isVisible() or force:
            self.loss_plot.refresh()
            self.accuracy_plot.refresh()

    @Slot()
    def _on_closing(self) -> None:
        self.preview_timer.stop()
        self.redraw_timer.stop()
        self.lab.shutdown()
