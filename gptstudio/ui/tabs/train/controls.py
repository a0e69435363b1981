"""The Train tab's control row: Start/Pause/Stop, save, the peak learning rate, progress with ETA.

Buttons emit requests; the tab passes them to the training service. Which button is enabled
follows the training state's one rule table (`TrainingState.allows`). While a run trains or is
paused, "Peak LR" sets a new peak learning rate: the engine rescales the whole warmup+cosine
schedule (floor included) from the next step on. Left out: plots, samples and runs.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, \
    QWidget

from gptstudio.core.errors import ConfigError
from gptstudio.core.train.config import check_learning_rate
from gptstudio.ui.services.state import IDLE, PAUSED, PREPARING, STOPPING, TRAINING, \
    TrainingState
from gptstudio.ui.widgets.form import ErrorLabel, number_edit, parse_float
from gptstudio.ui.widgets.plots import clock, human_tokens

PEAK_LR_TIP = ("The schedule's peak learning rate, e.g. 3e-4 or 0.0003. Apply (or Enter) "
               "rescales the whole warmup+cosine schedule, final learning rate included, "
               "from the next step on; the configured peak restores the original schedule.")
READY = "Ready: press Start"
RESTART_NOTE = "This run stopped before its first checkpoint: Start over trains it again"
START_TIP = "Start training (Ctrl+Enter)"
START_TEXT = {"start": "Start", "resume": "Resume run", "restart": "Start over"}
START_TIPS = {
    "resume": "Continue the opened run from its last checkpoint (Ctrl+Enter)",
    "restart": "This run stopped before its first checkpoint: train it again from step 0, in "
               "the same folder (Ctrl+Enter)",
}


def parse_peak_lr(text: str) -> float:
    """The peak learning rate typed in `text`; ValueError with a sentence if it is unusable
    (read like the Setup tab's fields, judged by the engine's learning-rate rule)."""
    name = "The peak learning rate"
    try:
        return check_learning_rate(parse_float(text, name), name)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


class TrainControls(QWidget):
    """See the module docstring; `set_state` enables what the state allows."""

    start_requested = Signal()
    new_run_requested = Signal()
    pause_requested = Signal()  # pause or resume
    stop_requested = Signal()
    checkpoint_requested = Signal()
    learning_rate_requested = Signal(float)  # a new peak learning rate, already checked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state: TrainingState = IDLE
        self.max_steps = 0
        self._start_allowed, self._start_kind = True, "start"
        self._preparing = False  # the bar shows the preparation's progress
        self.start = _button("Start", "startButton", START_TIP)
        self.pause = _button("Pause", "pauseButton", "Pause or resume between two steps (Ctrl+P)")
        self.stop = _button("Stop", "stopButton",
                            "Stop after the current step and save a checkpoint (Ctrl+.)")
        self.new_run = _button("New run", "newRunButton",
                               "Forget this run and start the next one from scratch (Ctrl+N)")
        self.new_run.hide()  # shown while Start would continue or redo a run
        self.save = _button("Save checkpoint", "saveCheckpointButton",
                            "Save a checkpoint at the next step (Ctrl+S)")
        self.peak_lr_label = QLabel("Peak LR")
        self.peak_lr = number_edit("", width_chars=7)  # room for 0.00025 or 2.5e-4
        self.peak_lr.setObjectName("peakLrEdit")
        self.peak_lr.setPlaceholderText("3e-4")
        self.peak_lr.setMaximumWidth(self.peak_lr.fontMetrics().horizontalAdvance("0") * 9)
        self.peak_lr.setToolTip(PEAK_LR_TIP)
        self.peak_lr_label.setBuddy(self.peak_lr)
        self.peak_lr_label.setToolTip(PEAK_LR_TIP)
        self.apply_lr = _button("Apply", "applyLrButton",
                                "Use this peak learning rate from the next step on (Enter)")
        self.lr_error = ErrorLabel()  # why the typed learning rate was refused, in red
        self.lr_error.setObjectName("peakLrError")
        self.progress = QProgressBar()
        self.progress.setObjectName("trainProgress")
        self.progress.setTextVisible(True)
        self.progress.setMinimumWidth(160)
        self.reason = ErrorLabel()  # why Start is disabled, in red
        self.reason.setObjectName("startBlockedReason")
        self.reset_progress()

        buttons = QHBoxLayout()
        for button in (self.start, self.new_run, self.pause, self.stop, self.save):
            buttons.addWidget(button)
        buttons.addSpacing(8)
        for widget in (self.peak_lr_label, self.peak_lr, self.apply_lr):
            buttons.addWidget(widget)
        buttons.addSpacing(8)
        buttons.addWidget(self.progress, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.reason)
        layout.addWidget(self.lr_error)

        self.start.clicked.connect(self.start_requested)
        self.new_run.clicked.connect(self.new_run_requested)
        self.pause.clicked.connect(self.pause_requested)
        self.stop.clicked.connect(self.stop_requested)
        self.save.clicked.connect(self.checkpoint_requested)
        self.apply_lr.clicked.connect(self._on_apply_lr)
        self.peak_lr.returnPressed.connect(self._on_apply_lr)
        self.peak_lr.textEdited.connect(self._on_peak_lr_edited)
        self.set_state(IDLE)

    # -- state ---------------------------------------------------------------------------------
    def set_state(self, state: TrainingState) -> None:
        self.state = state
        self.start.setEnabled(state.allows("start") and self._start_allowed)
        self.new_run.setEnabled(state.allows("new_run"))
        self.pause.setEnabled(state.allows("pause"))
        self.pause.setText("Resume" if state is PAUSED else "Pause")
        self.stop.setEnabled(state.allows("stop"))
        self.save.setEnabled(state.allows("save_checkpoint"))
        tunable = state.allows("set_learning_rate")
        for widget in (self.peak_lr_label, self.peak_lr, self.apply_lr):
            widget.setEnabled(tunable)
        if not tunable:
            self.lr_error.show_error(None)
        if state is PREPARING:
            self.progress.setRange(0, 0)
            self.progress.setFormat("Preparing: tokenizing the corpus and building the model…")
        elif state is IDLE and (self.progress.maximum() == 0 or self._preparing):
            self.reset_progress()  # stopped while preparing

    def set_start_allowed(self, allowed: bool, reason: str) -> None:
        self._start_allowed = allowed
        self.reason.show_error(reason if not allowed else None)
        self.start.setToolTip(START_TIPS.get(self._start_kind, START_TIP) if allowed else reason)
        self.set_state(self.state)

    def set_start_kind(self, kind: str) -> None:
        """What Start does: "start" a new run, "resume" the opened one, "restart" it."""
        self._start_kind = kind
        self.start.setText(START_TEXT[kind])
        self.new_run.setVisible(kind != "start")
        if self._start_allowed:
            self.start.setToolTip(START_TIPS.get(kind, START_TIP))

    def begin_run(self, max_steps: int, peak_lr: float | None) -> None:
        """A run starts: the progress bar's range, and the run's configured peak in the field."""
        self.max_steps, self._preparing = max_steps, False
        self.peak_lr.setText(f"{peak_lr:g}" if peak_lr is not None else "")
        self.lr_error.show_error(None)
        self.progress.setRange(0, max(1, max_steps))

    def show_preparing(self, text: str, fraction: float | None) -> None:
        """While the run prepares: how far it has come (tokenizing the corpus), in the bar."""
        if self.state is not PREPARING:
            return
        if fraction is None:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, 1000)
            self.progress.setValue(round(1000 * fraction))
        self.progress.setFormat(text)
        self._preparing = True

    def reset_progress(self) -> None:
        self.max_steps, self._preparing = 0, False
        self.progress.setRange(0, 1)
        self.progress.setValue(0)  # a bar without a value draws no text
        self.progress.setFormat(READY)

    def show_progress(self, step: int, loss: float, tokens_per_s: float, eta: float) -> None:
        """The progress text: step, loss, speed and ETA (as far as the state makes sense)."""
        if self.state is PREPARING or self.max_steps <= 0:
            return
        if self.state is IDLE and self._start_kind == "restart":
            self.progress.setValue(0)
            self.progress.setFormat(RESTART_NOTE)
            return
        self.progress.setValue(min(step, self.progress.maximum()))
        parts = [f"step {step:,} / {self.max_steps:,}"]
        if math.isfinite(loss):
            parts.append(f"loss {loss:.3f}")
        if self.state in (TRAINING, PAUSED) and math.isfinite(tokens_per_s):
            parts.append(f"{human_tokens(tokens_per_s)} tokens/s")
        if self.state is TRAINING and math.isfinite(eta):
            parts.append(f"ETA {clock(eta)}")
        if self.state is PAUSED:
            parts.append("paused")
        elif self.state is STOPPING:
            parts.append("stopping…")
        self.progress.setFormat("  ·  ".join(parts))

    # -- slots ---------------------------------------------------------------------------------
    @Slot()
    def _on_apply_lr(self) -> None:
        """Apply or Enter: emit the typed peak learning rate, or say in red why it is refused."""
        if not self.state.allows("set_learning_rate"):
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


def _button(text: str, name: str, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setToolTip(tip)
    return button
