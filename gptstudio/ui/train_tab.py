"""The Train tab: Start/Pause/Stop, the peak learning rate, progress with ETA, live plots,
samples and earlier runs.

The tab keeps the current run's numbers in a `RunHistory` (numpy columns). Session events only
append to it; a ~30 Hz timer refreshes the plots and the progress text at their own, slower
rates (below), so the GUI stays fluid and the training fast however quickly the steps come
(STYLE.md 9). Clicking the loss curve selects the sample of the nearest evaluation.
While a run trains or is paused, the "Peak LR" field sets a new peak learning rate: the engine
rescales the whole warmup+cosine schedule (floor included) from the next step on.
Left out: the run set-up (Setup tab) and every training computation.
"""

from __future__ import annotations

import math
import time
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSlider, QSplitter,
    QVBoxLayout, QWidget,
)

from gptstudio.core.errors import ConfigError
from gptstudio.core.train.config import check_learning_rate
from gptstudio.ui.form import ErrorLabel, number_edit, parse_float
from gptstudio.ui.history import RunHistory
from gptstudio.ui.plots import LossPlot, MetricPlot, clock, human_tokens
from gptstudio.ui.runs_panel import RunsPanel
from gptstudio.ui.samples_view import SamplesPanel
from gptstudio.ui.session import IDLE, PAUSED, PREPARING, STOPPING, TRAINING

HOVER_HINT = "Point at the loss curve to read its values; click it to see that step's sample."
REDRAW_MS = 33  # the timer ticks at ~30 Hz: progress text and the plots' checks
# A plot repaint costs the GUI thread milliseconds of Python, taken from the training thread
# (they share the GIL): at 30 repaints a second the app trained at 0.55x the headless speed.
# So the loss plot is repainted at most 4 times a second, each small plot every 1.5 s, the
# progress text 4 times a second.
LOSS_PLOT_EVERY_S = 0.25
METRIC_PLOTS_EVERY_S = 1.5
PROGRESS_EVERY_S = 0.25
PEAK_LR_TIP = ("The schedule's peak learning rate, e.g. 3e-4 or 0.0003. Apply (or Enter) "
               "rescales the whole warmup+cosine schedule, final learning rate included, "
               "from the next step on; the configured peak restores the original schedule.")


def parse_peak_lr(text: str) -> float:
    """The peak learning rate typed in `text`; ValueError with a sentence if it is unusable
    (read like the Setup tab's fields, judged by the engine's learning-rate rule)."""
    name = "The peak learning rate"
    try:
        return check_learning_rate(parse_float(text, name), name)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


class TrainTab(QWidget):
    """Buttons emit requests; the MainWindow forwards them to the Session.

    The keyboard shortcuts live on the window's Training menu actions, so they work from any tab.
    """

    start_requested = Signal()
    new_run_requested = Signal()
    pause_requested = Signal()
    resume_requested = Signal()
    stop_requested = Signal()
    checkpoint_requested = Signal()
    learning_rate_requested = Signal(float)  # a new peak learning rate, already checked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.history = RunHistory()
        self.state = IDLE
        self.max_steps = 0
        self._last = {"step": 0, "tokens_per_s": math.nan, "eta": math.nan, "loss": math.nan}
        self._progress_dirty = False
        self._loss_drawn_at = self._metrics_drawn_at = 0.0  # time.monotonic() of the last redraw
        self._next_metric = 0
        self._progress_at = 0.0
        self._start_allowed = True

        # -- controls ------------------------------------------------------------------------
        self.start = QPushButton("Start")
        self.start.setObjectName("startButton")
        self.start.setToolTip("Start training (Ctrl+Enter)")
        self.pause = QPushButton("Pause")
        self.pause.setObjectName("pauseButton")
        self.pause.setToolTip("Pause or resume between two steps (Ctrl+P)")
        self.stop = QPushButton("Stop")
        self.stop.setObjectName("stopButton")
        self.stop.setToolTip("Stop after the current step and save a checkpoint (Ctrl+.)")
        self.new_run = QPushButton("New run")
        self.new_run.setObjectName("newRunButton")
        self.new_run.setToolTip("Forget this run and start the next one from scratch (Ctrl+N)")
        self.new_run.hide()  # shown while Start would resume a run
        self.save = QPushButton("Save checkpoint")
        self.save.setObjectName("saveCheckpointButton")
        self.save.setToolTip("Save a checkpoint at the next step (Ctrl+S)")
        self.peak_lr_label = QLabel("Peak LR")
        self.peak_lr = number_edit("", width_chars=7)  # room for 0.00025 or 2.5e-4
        self.peak_lr.setObjectName("peakLrEdit")
        self.peak_lr.setPlaceholderText("3e-4")
        self.peak_lr.setMaximumWidth(self.peak_lr.fontMetrics().horizontalAdvance("0") * 9)
        self.peak_lr.setToolTip(PEAK_LR_TIP)
        self.peak_lr_label.setBuddy(self.peak_lr)
        self.peak_lr_label.setToolTip(PEAK_LR_TIP)
        self.apply_lr = QPushButton("Apply")
        self.apply_lr.setObjectName("applyLrButton")
        self.apply_lr.setToolTip("Use this peak learning rate from the next step on (Enter)")
        self.lr_error = ErrorLabel()  # why the typed learning rate was refused, in red
        self.lr_error.setObjectName("peakLrError")
        self.progress = QProgressBar()
        self.progress.setObjectName("trainProgress")
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)  # a bar without a value draws no text
        self.progress.setFormat("Ready: press Start")
        self.progress.setMinimumWidth(160)
        self.reason = ErrorLabel()  # why Start is disabled, in red
        self.reason.setObjectName("startBlockedReason")
        buttons = QHBoxLayout()
        for button in (self.start, self.new_run, self.pause, self.stop, self.save):
            buttons.addWidget(button)
        buttons.addSpacing(8)
        buttons.addWidget(self.peak_lr_label)
        buttons.addWidget(self.peak_lr)
        buttons.addWidget(self.apply_lr)
        buttons.addSpacing(8)
        buttons.addWidget(self.progress, 1)

        # -- plots ---------------------------------------------------------------------------
        self.loss_plot = LossPlot()
        self.loss_plot.set_history(self.history)
        self.metric_plots = [MetricPlot("lr", "learning rate"),
                             MetricPlot("grad_norm", "gradient norm"),
                             MetricPlot("tokens_per_s", "tokens / s")]
        for plot in self.metric_plots:
            plot.set_history(self.history)
            plot.setMinimumHeight(120)
        self.x_mode = QComboBox()
        self.x_mode.setObjectName("xModeSelector")
        for key, label in (("step", "Step"), ("tokens", "Tokens seen"), ("elapsed", "Wall time")):
            self.x_mode.addItem(label, key)
        self.y_mode = QComboBox()
        self.y_mode.setObjectName("yModeSelector")
        self.y_mode.addItem("Loss", "loss")
        self.y_mode.addItem("Bits per byte", "bpb")
        self.y_mode.setToolTip("Bits per byte compares runs with different tokenizers fairly.")
        self.log_y = QCheckBox("Log scale")
        self.log_y.setObjectName("logScaleToggle")
        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setObjectName("smoothingSlider")
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(int(self.loss_plot.smoothing * 100))
        self.smoothing.setMaximumWidth(160)
        self.smoothing_label = QLabel()
        self._on_smoothing_changed(self.smoothing.value())
        self.readout = QLabel()  # the values under the mouse on the loss plot
        self.readout.setObjectName("plotReadout")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readout.setText(HOVER_HINT)
        options = QHBoxLayout()
        options.addWidget(QLabel("x:"))
        options.addWidget(self.x_mode)
        options.addWidget(QLabel("y:"))
        options.addWidget(self.y_mode)
        options.addWidget(self.log_y)
        options.addSpacing(12)
        options.addWidget(QLabel("Smoothing"))
        options.addWidget(self.smoothing)
        options.addWidget(self.smoothing_label)
        options.addStretch(1)
        metrics_row = QHBoxLayout()
        for plot in self.metric_plots:
            metrics_row.addWidget(plot)
        plots = QWidget()
        plots_layout = QVBoxLayout(plots)
        plots_layout.setContentsMargins(0, 0, 0, 0)
        plots_layout.addLayout(options)
        plots_layout.addWidget(self.readout)
        plots_layout.addWidget(self.loss_plot, 3)
        plots_layout.addLayout(metrics_row, 1)

        # -- side panel: samples and earlier runs ----------------------------------------------
        self.samples = SamplesPanel()
        self.runs = RunsPanel()
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.samples)
        side.addWidget(self.runs)
        side.setStretchFactor(0, 3)
        side.setStretchFactor(1, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(plots)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([900, 340])

        layout = QVBoxLayout(self)
        layout.addLayout(buttons)
        layout.addWidget(self.reason)
        layout.addWidget(self.lr_error)
        layout.addWidget(self.splitter, 1)

        self.start.clicked.connect(self.start_requested)
        self.new_run.clicked.connect(self.new_run_requested)
        self.pause.clicked.connect(self._on_pause_clicked)
        self.stop.clicked.connect(self.stop_requested)
        self.save.clicked.connect(self.checkpoint_requested)
        self.apply_lr.clicked.connect(self._on_apply_lr)
        self.peak_lr.returnPressed.connect(self._on_apply_lr)
        self.peak_lr.textEdited.connect(self._on_peak_lr_edited)
        self.x_mode.currentIndexChanged.connect(self._on_x_mode_changed)
        self.y_mode.currentIndexChanged.connect(self._on_y_mode_changed)
        self.log_y.toggled.connect(self.loss_plot.set_log_y)
        self.smoothing.valueChanged.connect(self._on_smoothing_changed)
        self.loss_plot.step_clicked.connect(self._on_step_clicked)
        self.loss_plot.hovered.connect(self._on_plot_hovered)
        self.runs.overlay_added.connect(self.loss_plot.add_overlay)
        self.runs.overlay_removed.connect(self.loss_plot.remove_overlay)

        self.timer = QTimer(self)
        self.timer.setInterval(REDRAW_MS)
        self.timer.timeout.connect(self.redraw)
        self.timer.start()
        self.set_state(IDLE)

    # -- state ---------------------------------------------------------------------------------
    def set_state(self, state: str) -> None:
        self.state = state
        running = state in (PREPARING, TRAINING, PAUSED, STOPPING)
        self.start.setEnabled(not running and self._start_allowed)
        self.new_run.setEnabled(not running)
        self.pause.setEnabled(state in (TRAINING, PAUSED))
        self.pause.setText("Resume" if state == PAUSED else "Pause")
        self.stop.setEnabled(state in (PREPARING, TRAINING, PAUSED))
        self.save.setEnabled(state in (TRAINING, PAUSED))
        tunable = state in (TRAINING, PAUSED)  # a trainer is there to take a new peak
        for widget in (self.peak_lr_label, self.peak_lr, self.apply_lr):
            widget.setEnabled(tunable)
        if not tunable:
            self.lr_error.show_error(None)
        if state == PREPARING:
            self.progress.setRange(0, 0)
            self.progress.setFormat("Preparing: tokenizing the corpus and building the model…")
        elif state == IDLE and self.progress.maximum() == 0:  # stopped while preparing
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat("Ready: press Start")
        self._progress_dirty = True

    def set_start_allowed(self, allowed: bool, reason: str) -> None:
        self._start_allowed = allowed
        self.reason.show_error(reason if not allowed else None)
        self.start.setToolTip("Start training (Ctrl+Enter)" if allowed else reason)
        self.set_state(self.state)

    def set_resumable(self, resumable: bool) -> None:
        self.start.setText("Resume run" if resumable else "Start")
        self.new_run.setVisible(resumable)

    # -- events from the Session ---------------------------------------------------------------
    def begin_run(self, name: str, max_steps: int, *, start_step: int = 0,
                  keep_history: bool = False, peak_lr: float | None = None) -> None:
        """A run starts (or resumes at `start_step`): set up the progress bar, show the run's
        configured `peak_lr` in the Peak LR field, and clear the curves unless resuming (then
        the steps after the checkpoint are dropped)."""
        self.max_steps = max_steps
        self.peak_lr.setText(f"{peak_lr:g}" if peak_lr is not None else "")
        self.lr_error.show_error(None)
        if keep_history:
            self.history.rewind(start_step + 1)
            self.samples.set_samples(self.history.samples)
        else:
            self.history.clear()
            self.history.bytes_per_token = None  # learnt again from the first evaluation
            self.samples.clear()
        self.history.name = name
        self._last.update(step=start_step, tokens_per_s=math.nan, eta=math.nan)
        self.progress.setRange(0, max(1, max_steps))
        self._progress_dirty = True
        self._set_step_extent(max_steps)

    def _set_step_extent(self, steps: int) -> None:
        for plot in [self.loss_plot, *self.metric_plots]:
            plot.set_step_extent(steps)

    @property
    def tokens_per_s(self) -> float:
        """The speed of the latest step (NaN before the first)."""
        return float(self._last["tokens_per_s"])

    def add_step(self, values: dict[str, Any]) -> None:
        self.history.add_step(**{k: values.get(k) for k in self.history.steps.names})
        self._last.update({k: values.get(k, math.nan) for k in self._last})
        self._progress_dirty = True

    def add_eval(self, values: dict[str, Any]) -> None:
        self.history.add_eval(**{k: values.get(k) for k in self.history.evals.names})

    def add_sample(self, step: int, text: str) -> None:
        self.history.add_sample(step, text)
        self.samples.add_sample(step, text)

    def show_history(self, history: RunHistory, max_steps: int) -> None:
        """Show a finished/opened run's curves and samples (replacing the current ones)."""
        self.history.copy_from(history)
        self.samples.set_samples(history.samples)
        self.max_steps = max_steps
        last_step = int(history.steps.last("step")) if len(history.steps) else 0
        self._last.update(step=last_step, tokens_per_s=math.nan, eta=math.nan,
                          loss=history.steps.last("loss"))
        self.progress.setRange(0, max(1, max_steps))
        self._progress_dirty = True
        self._set_step_extent(max_steps)
        self.redraw(force=True)

    def clear(self) -> None:
        self.history.clear()
        self.samples.clear()
        self.max_steps = 0
        self._last.update(step=0, tokens_per_s=math.nan, eta=math.nan, loss=math.nan)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Ready: press Start")
        self._set_step_extent(0)

    # -- drawing -------------------------------------------------------------------------------
    @Slot()
    def redraw(self, force: bool = False) -> None:
        """Timer tick: push new points to the plots (throttled, see above; `force` draws now)
        and refresh the progress text."""
        if not self.isVisible() and not force:
            return  # plots off screen need no redraw; they catch up when shown
        now = time.monotonic()
        if force:
            self._loss_drawn_at = self._metrics_drawn_at = 0.0
        if now - self._loss_drawn_at >= LOSS_PLOT_EVERY_S:
            self._loss_drawn_at = now
            self.loss_plot.refresh()
        if now - self._metrics_drawn_at >= METRIC_PLOTS_EVERY_S / len(self.metric_plots):
            # One small plot per turn, so no single tick repaints all of them.
            self._metrics_drawn_at = now
            self._next_metric = (self._next_metric + 1) % len(self.metric_plots)
            if force:
                for plot in self.metric_plots:
                    plot.refresh()
            else:
                self.metric_plots[self._next_metric].refresh()
        if self._progress_dirty and (force or now - self._progress_at >= PROGRESS_EVERY_S):
            self._progress_dirty = False
            self._progress_at = now
            self._update_progress()

    def _update_progress(self) -> None:
        if self.state == PREPARING or self.max_steps <= 0:
            return
        step = int(self._last["step"] or 0)
        self.progress.setValue(min(step, self.progress.maximum()))
        parts = [f"step {step:,} / {self.max_steps:,}"]
        loss = self._last["loss"]
        if loss is not None and math.isfinite(loss):
            parts.append(f"loss {loss:.3f}")
        tps = self._last["tokens_per_s"]
        if self.state in (TRAINING, PAUSED) and tps is not None and math.isfinite(tps):
            parts.append(f"{human_tokens(tps)} tokens/s")
        eta = self._last["eta"]
        if self.state == TRAINING and eta is not None and math.isfinite(eta):
            parts.append(f"ETA {clock(eta)}")
        if self.state == PAUSED:
            parts.append("paused")
        elif self.state == STOPPING:
            parts.append("stopping…")
        self.progress.setFormat("  ·  ".join(parts))

    # -- slots ---------------------------------------------------------------------------------
    @Slot()
    def _on_pause_clicked(self) -> None:
        if self.state == PAUSED:
            self.resume_requested.emit()
        else:
            self.pause_requested.emit()

    @Slot()
    def _on_apply_lr(self) -> None:
        """Apply or Enter: emit the typed peak learning rate, or say in red why it is refused."""
        if self.state not in (TRAINING, PAUSED):
            return  # Enter in a disabled field cannot happen; a stale click must do nothing
        try:
            lr = parse_peak_lr(self.peak_lr.text())
        except ValueError as exc:
            self.lr_error.show_error(str(exc))
            return
        self.lr_error.show_error(None)
        self.learning_rate_requested.emit(lr)

    @Slot(str)
    def _on_peak_lr_edited(self, _text: str) -> None:
        self.lr_error.show_error(None)  # the refused value is gone; judge the new one on Apply

    @Slot(int)
    def _on_x_mode_changed(self, _index: int) -> None:
        mode = str(self.x_mode.currentData())
        self.loss_plot.set_x_mode(mode)
        for plot in self.metric_plots:
            plot.set_x_mode(mode)

    @Slot(int)
    def _on_y_mode_changed(self, _index: int) -> None:
        self.loss_plot.set_y_mode(str(self.y_mode.currentData()))

    @Slot(int)
    def _on_smoothing_changed(self, value: int) -> None:
        self.smoothing_label.setText(f"{value / 100:.2f}")
        self.loss_plot.set_smoothing(value / 100)

    @Slot(str)
    def _on_plot_hovered(self, text: str) -> None:
        self.readout.setText(text or HOVER_HINT)

    @Slot(int)
    def _on_step_clicked(self, step: int) -> None:
        self.samples.show_step(step)

