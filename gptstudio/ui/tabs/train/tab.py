"""The Train tab: Start/Pause/Stop, the peak learning rate, progress, live plots, samples, runs.

The tab subscribes to the training service's one `event_reported` signal and feeds every event
to its `RunHistory` (`add_event`, the mapping a replayed run folder goes through too); the samples
panel and the progress text read the same events. A ~30 Hz timer refreshes the plots and the
progress text at their own, slower rates, so the GUI stays fluid and the training fast however
quickly the steps come (STYLE.md 9). Clicking the loss curve selects the sample of the nearest
evaluation. Left out: the run set-up (Setup tab) and every training computation.
"""

from __future__ import annotations

import math
import time

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QSplitter, QVBoxLayout, QWidget

from gptstudio.core.train import EvalEvent, SampleEvent, StepEvent, TrainEvent
from gptstudio.ui.history import RunHistory
from gptstudio.ui.services.run_files import OpenedRun
from gptstudio.ui.services.state import IDLE, TrainingState
from gptstudio.ui.services.training import TrainingPlan
from gptstudio.ui.session import Session
from gptstudio.ui.tabs.base import Tab, TabAction
from gptstudio.ui.tabs.train.actions import TrainActions, write_metrics_csv, write_plot_png
from gptstudio.ui.tabs.train.controls import TrainControls
from gptstudio.ui.tabs.train.diagnosis import DiagnosisLabel
from gptstudio.ui.tabs.train.plots_panel import X_MODES, PlotsPanel
from gptstudio.ui.tabs.train.runs_panel import RunsPanel
from gptstudio.ui.tabs.train.samples_view import SamplesPanel
from gptstudio.ui.theme import PlotTheme
from gptstudio.ui.widgets.learn_panel import LearnPanel
from gptstudio.ui.workers.train import RunStarted, preparing_fraction, preparing_text

REDRAW_MS = 33  # the timer ticks at ~30 Hz: progress text and the plots' checks
PROGRESS_EVERY_S = 0.25


class TrainTab(QWidget, Tab):
    """See the module docstring."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.history = RunHistory()
        self._last = {"step": 0, "tokens_per_s": math.nan, "eta": math.nan, "loss": math.nan}
        self._progress_dirty, self._progress_at = False, 0.0

        self.controls = TrainControls()
        self.plots = PlotsPanel(self.history)
        self.samples = SamplesPanel()
        self.runs = RunsPanel()
        self.runs.set_root(session.runs.root)
        # The learn panel (with "Is this normal?") is a pane of the side column: beside the
        # plots it would make the tab too wide for a small window.
        self.learn = LearnPanel("train", settings=session.settings, fold="down")
        self.diagnosis = DiagnosisLabel()
        self.learn.add_widget(self.diagnosis)
        self.vocab_size: int | None = None  # the current run's, for the diagnosis
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.samples)
        side.addWidget(self.runs)
        side.addWidget(self.learn)
        side.setStretchFactor(0, 3)
        side.setStretchFactor(1, 1)
        side.setStretchFactor(2, 3)
        side.setSizes([300, 110, 330])
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.plots)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([900, 340])
        layout = QVBoxLayout(self)
        layout.addWidget(self.controls)
        layout.addWidget(self.splitter, 1)
        self.actions = TrainActions(self, [label for _, label in X_MODES])

        c, a, training, runs = self.controls, self.actions, session.training, session.runs
        for signal in (c.start_requested, a.start.triggered):
            signal.connect(self.start_training)
        for signal in (c.pause_requested, a.pause.triggered):
            signal.connect(training.toggle_pause)
        for signal in (c.stop_requested, a.stop.triggered):
            signal.connect(self.stop_training)
        for signal in (c.checkpoint_requested, a.save.triggered):
            signal.connect(self.save_checkpoint)
        c.new_run_requested.connect(session.new_run)
        c.learning_rate_requested.connect(training.set_learning_rate)
        a.export_csv.triggered.connect(self._on_export_csv)
        a.export_png.triggered.connect(self._on_export_png)
        a.log_scale.triggered.connect(self.plots.log_y.setChecked)
        self.plots.log_y.toggled.connect(a.log_scale.setChecked)
        a.reset_zoom.triggered.connect(self.plots.reset_zoom)
        a.x_group.triggered.connect(self._on_x_axis_action)
        self.plots.step_clicked.connect(self.samples.show_step)
        self.runs.overlay_added.connect(self.plots.loss_plot.add_overlay)
        self.runs.overlay_removed.connect(self.plots.loss_plot.remove_overlay)
        self.runs.open_requested.connect(session.open_run)
        training.state_changed.connect(self._on_state_changed)
        training.plan_changed.connect(self._on_plan_changed)
        training.run_started.connect(self._on_run_started)
        training.event_reported.connect(self._on_event)
        runs.run_opened.connect(self._on_run_opened)
        runs.run_closed.connect(self._on_run_closed)
        runs.runs_changed.connect(self.runs.refresh)

        self.timer = QTimer(self)
        self.timer.setInterval(REDRAW_MS)
        self.timer.timeout.connect(self.redraw)
        self.timer.start()
        session.closing.connect(self.timer.stop)
        session.reference_requested.connect(self.plots.show_reference)
        self._on_plan_changed(training.plan)
        self._on_state_changed(training.state)

    def tab_actions(self) -> list[TabAction]:
        return self.actions.entries()

    def apply_theme(self, theme: PlotTheme) -> None:
        super().apply_theme(theme)
        self.plots.apply_theme(theme)

    @property
    def tokens_per_s(self) -> float:
        """The speed of the latest step (NaN before the first)."""
        return float(self._last["tokens_per_s"])

    # -- requests ------------------------------------------------------------------------------
    @Slot()
    def start_training(self) -> bool:
        return self.session.training.start()

    @Slot()
    def stop_training(self) -> None:
        self.session.training.stop()

    @Slot()
    def save_checkpoint(self) -> None:
        if self.session.training.save_checkpoint():
            self.session.say("Saving a checkpoint at the next step…")
        else:
            self.session.say("Checkpoints are saved while training runs.")

    def export_metrics_csv(self, path: str) -> bool:
        """Write the current run's steps and evaluations as CSV (atomically)."""
        return self.session.report_write(write_metrics_csv(self.history, path), "metrics", path)

    def export_plot_png(self, path: str) -> bool:
        return self.session.report_write(write_plot_png(self.plots.loss_plot, path),
                                         "the plot", path)


    @Slot()
    def _on_export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics", "metrics.csv", "CSV (*.csv)")
        if path:
            self.export_metrics_csv(path)

    @Slot()
    def _on_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plot", "loss.png", "PNG (*.png)")
        if path:
            self.export_plot_png(path)

    @Slot(QAction)
    def _on_x_axis_action(self, action: QAction) -> None:
        self.plots.x_mode.setCurrentIndex(int(action.data()))

    # -- the services' news --------------------------------------------------------------------
    @Slot(object)
    def _on_state_changed(self, state: TrainingState) -> None:
        self.controls.set_state(state)
        self.actions.set_state(state, self.session.training.plan.ready)
        if state is IDLE:
            self._show_start_kind(self.session.runs.opened)
        self._progress_dirty = True

    @Slot(object)
    def _on_plan_changed(self, plan: TrainingPlan) -> None:
        self.controls.set_start_allowed(plan.ready, " ".join(plan.problems))
        self.actions.set_state(self.session.training.state, plan.ready)

    @Slot(object)
    def _on_run_started(self, info: RunStarted) -> None:
        """A run starts (or resumes at its start step): clear the curves unless resuming (then
        the steps after the checkpoint are dropped)."""
        self.controls.begin_run(info.max_steps, info.peak_lr)
        self._show_start_kind(None)
        if info.resumed:
            self.history.rewind(info.start_step + 1)
            self.samples.set_samples(self.history.samples)
        else:
            self.history.clear()
            self.history.bytes_per_token = None  # learnt again from the first evaluation
            self.samples.clear()
        self.history.name = info.name
        self._last.update(step=info.start_step, tokens_per_s=math.nan, eta=math.nan)
        self._progress_dirty = True
        self.plots.set_step_extent(info.max_steps)
        self.runs.set_current(info.path)
        self.vocab_size = getattr(info.model_config, "vocab_size", None)
        self.diagnosis.show_history(self.history, self.vocab_size)
        if info.task is None:  # a fine-tune is watched on the Fine-tune tab
            self.session.show_tab("train")

    @Slot(object)
    def _on_event(self, event: TrainEvent) -> None:
        preparing = preparing_text(event)  # tokenizing the corpus, before the run starts
        if preparing is not None:
            self.controls.show_preparing(preparing, preparing_fraction(event))
            return
        self.history.add_event(event)
        if isinstance(event, StepEvent):
            self._last.update(step=event.step, tokens_per_s=event.tokens_per_sec,
                              eta=event.eta, loss=event.loss)
            self._progress_dirty = True
        elif isinstance(event, SampleEvent):
            self.samples.add_sample(event.step, event.prompt + event.text)
        elif isinstance(event, EvalEvent):
            self.diagnosis.show_history(self.history, self.vocab_size)

    @Slot(object)
    def _on_run_opened(self, opened: OpenedRun) -> None:
        """Show a run folder's curves and samples (replacing the current ones)."""
        history = opened.history
        max_steps = opened.train_config.max_steps if opened.train_config else 0
        self.history.copy_from(history)
        self.samples.set_samples(history.samples)
        self.controls.begin_run(max_steps, None)
        self.controls.peak_lr.setText("")
        last_step = int(history.steps.last("step")) if len(history.steps) else 0
        self._last.update(step=last_step, tokens_per_s=math.nan, eta=math.nan,
                          loss=history.steps.last("loss"))
        self._progress_dirty = True
        self.plots.set_step_extent(max_steps)
        self._show_start_kind(opened)
        self.runs.set_current(opened.path)
        self.vocab_size = getattr(opened.model_config, "vocab_size", None)
        self.diagnosis.show_history(self.history, self.vocab_size)
        self.redraw(force=True)

    @Slot()
    def _on_run_closed(self) -> None:
        self.history.clear()
        self.samples.clear()
        self._last.update(step=0, tokens_per_s=math.nan, eta=math.nan, loss=math.nan)
        self.controls.reset_progress()
        self.plots.set_step_extent(0)
        self._show_start_kind(None)
        self.runs.set_current(None)
        self.diagnosis.clear_run()

    def _show_start_kind(self, opened: OpenedRun | None) -> None:
        kind = "start"
        if opened is not None and opened.can_resume:
            kind = "resume"
        elif opened is not None and opened.needs_restart:
            kind = "restart"
        self.controls.set_start_kind(kind)

    # -- drawing -------------------------------------------------------------------------------
    @Slot()
    def redraw(self, force: bool = False) -> None:
        """Timer tick: push new points to the plots (throttled; `force` draws now) and refresh
        the progress text."""
        if not self.isVisible() and not force:
            return  # plots off screen need no redraw; they catch up when shown
        self.plots.redraw(force)
        now = time.monotonic()
        if self._progress_dirty and (force or now - self._progress_at >= PROGRESS_EVERY_S):
            self._progress_dirty, self._progress_at = False, now
            last = self._last
            self.controls.show_progress(int(last["step"] or 0), float(last["loss"]),
                                        float(last["tokens_per_s"]), float(last["eta"]))
