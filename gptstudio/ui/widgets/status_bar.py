"""The window's status bar: device, parameter count, training state, speed, and short messages.

It subscribes itself to the session: the device (the one the plan's device setting picks on this
machine, then, once a run starts, the one its trainer really uses, from `RunStarted`), the plan's
or the running/opened run's parameter count, the training state, the latest step's speed (shown
twice a second), checkpoint notices and the services' status sentences. While a run prepares,
the corpus's tokenizing progress (the worker's `TokenizeProgress`, in words) stays shown until
the run starts. Left out: everything else in the window.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QTimer, Slot
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from gptstudio.core.errors import ConfigError
from gptstudio.core.train import CheckpointEvent, StepEvent, TrainEvent
from gptstudio.core.train.device import device_label, resolve_device
from gptstudio.ui.services.run_files import OpenedRun
from gptstudio.ui.services.state import IDLE, TRAINING, TrainingState
from gptstudio.ui.services.training import TrainingPlan
from gptstudio.ui.session import Session
from gptstudio.ui.widgets.plots import human_tokens
from gptstudio.ui.workers.train import RunStarted, preparing_text

MESSAGE_MS = 8_000


def planned_device(spec: str) -> str:
    """What the device setting `spec` picks here ("Device: CPU · 8 threads"), as core decides."""
    try:
        return f"Device: {device_label(resolve_device(spec))}"
    except ConfigError:
        return f"Device: {spec} (not on this machine)"


def params_text(n_params: int | None) -> str:
    return f"{n_params / 1e6:,.2f}M parameters" if n_params else ""


class StatusBar(QStatusBar):
    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._tokens_per_s = math.nan
        self._preparing = ""  # the preparation progress shown now, if any
        plan = session.training.plan.train_config
        self.device_label = QLabel(planned_device(plan.device if plan else "auto"))
        self.device_label.setObjectName("deviceLabel")
        self.params_label = QLabel()
        self.params_label.setObjectName("paramsLabel")
        self.state_label = QLabel(IDLE.label)
        self.state_label.setObjectName("trainingStateLabel")
        self.speed_label = QLabel()
        self.speed_label.setObjectName("tokensPerSecondLabel")
        for label in (self.device_label, self.params_label, self.state_label, self.speed_label):
            label.setContentsMargins(8, 0, 8, 0)
            self.addPermanentWidget(label)
        self.timer = QTimer(self)
        self.timer.setInterval(500)
        self.timer.timeout.connect(self._update_speed)
        self.timer.start()
        training, runs = session.training, session.runs
        training.state_changed.connect(self._on_state_changed)
        training.plan_changed.connect(self._on_plan_changed)
        training.run_started.connect(self._on_run_started)
        training.event_reported.connect(self._on_event)
        runs.run_opened.connect(self._on_run_opened)
        runs.run_closed.connect(self._on_run_closed)
        session.status_message.connect(self._on_message)
        session.closing.connect(self.timer.stop)

    @Slot(str)
    def _on_message(self, message: str) -> None:
        if message:
            self.showMessage(message, MESSAGE_MS)

    @Slot(object)
    def _on_state_changed(self, state: TrainingState) -> None:
        self.state_label.setText(state.label)
        if state is IDLE:
            self._end_preparing()
        plan = self.session.training.plan.train_config
        if state is IDLE and plan is not None:  # the run is over: the next one's device
            self.device_label.setText(planned_device(plan.device))

    @Slot(object)
    def _on_plan_changed(self, plan: TrainingPlan) -> None:
        if not self.session.training.state.is_running:
            self.params_label.setText(params_text(plan.n_params))
            if plan.train_config is not None:
                self.device_label.setText(planned_device(plan.train_config.device))

    @Slot(object)
    def _on_run_started(self, info: RunStarted) -> None:
        self._end_preparing()
        self.params_label.setText(params_text(info.n_params))
        if info.device:  # the trainer's own device, not a guess
            self.device_label.setText(f"Training on {info.device}")

    @Slot(object)
    def _on_run_opened(self, opened: OpenedRun) -> None:
        if opened.n_params:
            self.params_label.setText(params_text(opened.n_params))

    @Slot()
    def _on_run_closed(self) -> None:
        self.params_label.setText(params_text(self.session.training.plan.n_params))

    @Slot(object)
    def _on_event(self, event: TrainEvent) -> None:
        preparing = preparing_text(event)
        if preparing is not None:  # shown until the next one or the run's start
            self._preparing = preparing
            self.showMessage(preparing)
        elif isinstance(event, StepEvent):
            self._tokens_per_s = event.tokens_per_sec
        elif isinstance(event, CheckpointEvent):
            best = " (best so far)" if event.best else ""
            self.showMessage(f"Checkpoint saved at step {event.step:,}{best}", 5_000)

    def _end_preparing(self) -> None:
        if self._preparing and self.currentMessage() == self._preparing:
            self.clearMessage()
        self._preparing = ""

    @Slot()
    def _update_speed(self) -> None:
        tps = self._tokens_per_s
        running = self.session.training.state is TRAINING and math.isfinite(tps)
        self.speed_label.setText(f"{human_tokens(tps)} tokens/s" if running else "")
