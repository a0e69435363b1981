"""The main window: the Setup and Train tabs, menus, status bar, drag and drop, persistence.

The window owns one `Session` and connects it to the tabs. It turns engine events into the
Train tab's plain numbers, shows errors in non-modal dialogs, remembers geometry, recent runs and
the last set-up (QSettings), and closes cleanly: while training it asks whether to save, then
stops the worker and waits for its thread. Left out: the tabs' insides and all engine work.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import torch
from PySide6.QtCore import QSaveFile, QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow, QTabWidget, QWidget

from gptstudio.core.corpora import DEFAULT_CORPUS
from gptstudio.ui import dialogs
from gptstudio.ui.app import configure_pyqtgraph
from gptstudio.ui.form import ErrorLabel
from gptstudio.ui.menus import build_menus
from gptstudio.ui.plots import human_tokens
from gptstudio.ui.run_files import is_run_folder
from gptstudio.ui.session import IDLE, PAUSED, PREPARING, STOPPING, TRAINING, Session
from gptstudio.ui.settings import AppSettings
from gptstudio.ui.setup_tab import SetupTab
from gptstudio.ui.theme import plot_theme
from gptstudio.ui.train_tab import TrainTab

log = logging.getLogger(__name__)

STATE_TEXT = {IDLE: "Idle", PREPARING: "Preparing…", TRAINING: "Training", PAUSED: "Paused",
              STOPPING: "Stopping…"}


def device_description() -> str:
    if torch.cuda.is_available():
        return f"GPU: {torch.cuda.get_device_name(0)}"
    n = torch.get_num_threads()
    return f"CPU · {n} thread{'s' if n != 1 else ''}"


class MainWindow(QMainWindow):
    """GPT Studio's window. `MainWindow()` builds everything with defaults in a running app."""

    def __init__(self, parent: QWidget | None = None, *, runs_root: Path | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()  # idempotent: also right when a test made the QApplication
        self.setWindowTitle("GPT Studio")
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.last_error: tuple[str, str] | None = None  # the last error shown (for tests)
        self.settings = AppSettings()
        self.session = Session(self, runs_root=runs_root)  # default: GPTSTUDIO_RUNS_DIR or app data

        self.setup_tab = SetupTab(self.session)
        self.train_tab = TrainTab()
        self.train_tab.runs.set_root(self.session.runs_root)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.setup_tab, "Setup")
        self.tabs.addTab(self.train_tab, "Train")
        self.setCentralWidget(self.tabs)

        self._build_status_bar()
        build_menus(self)
        self._connect()

        self.resize(1280, 820)
        geometry = self.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        self.setup_tab.restore(self.settings.last_setup())
        # The bundled default is small: load it now so the window is ready to train at once.
        self.session.load_corpus(f"builtin:{DEFAULT_CORPUS}", background=False)
        last = self.settings.last_setup().get("corpus")
        if isinstance(last, str) and last != f"builtin:{DEFAULT_CORPUS}" and _still_there(last):
            self.session.load_corpus(last)
        QTimer.singleShot(0, self.session.check_tiktoken)

    # ==== construction ============================================================================
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.device_label = QLabel(device_description())
        self.params_label = QLabel()
        self.state_label = QLabel(STATE_TEXT[IDLE])
        self.state_label.setObjectName("trainingStateLabel")
        self.speed_label = QLabel()
        self.speed_label.setObjectName("tokensPerSecondLabel")
        for label in (self.device_label, self.params_label, self.state_label, self.speed_label):
            label.setContentsMargins(8, 0, 8, 0)
            bar.addPermanentWidget(label)
        self.status_timer = QTimer(self)
        self.status_timer.setInterval(500)
        self.status_timer.timeout.connect(self._update_speed)
        self.status_timer.start()

    def _connect(self) -> None:
        s, t = self.session, self.train_tab
        s.error_raised.connect(self._on_error_raised)
        s.training_state_changed.connect(self._on_state_changed)
        s.run_started.connect(self._on_run_started)
        s.step_finished.connect(self._on_step_finished)
        s.eval_finished.connect(self._on_eval_finished)
        s.sample_ready.connect(self._on_sample_ready)
        s.checkpoint_saved.connect(self._on_checkpoint_saved)
        s.status_changed.connect(self._on_status_message)
        s.warning_raised.connect(self._on_status_message)
        s.run_opened.connect(self._on_run_opened)
        s.run_closed.connect(self._on_run_closed)
        t.start_requested.connect(self.start_training)
        t.new_run_requested.connect(self.new_run)
        t.pause_requested.connect(s.pause)
        t.resume_requested.connect(s.resume)
        t.stop_requested.connect(self.stop_training)
        t.checkpoint_requested.connect(self.save_checkpoint)
        t.learning_rate_requested.connect(s.set_learning_rate)
        t.runs.open_requested.connect(self.open_run)
        self.setup_tab.start_allowed_changed.connect(self._on_start_allowed_changed)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self.apply_theme)
        self.setup_tab.model_box.changed.connect(self._update_params)
        self.setup_tab.recheck()
        self._on_state_changed(s.state)

    # ==== actions =================================================================================
    @Slot()
    def start_training(self) -> bool:
        """Start (or resume an opened run) with the Setup tab's settings; False if refused."""
        if self.session.is_training:
            return False
        problems = self.setup_tab.problems()
        if problems:
            self._on_error_raised("Cannot start training", " ".join(problems))
            return False
        started = self.session.start_training(self.setup_tab.model_config(),
                                              self.setup_tab.train_config())
        if started:
            self.tabs.setCurrentWidget(self.train_tab)
            self.settings.add_recent_run(self.session.run_dir)
            self.settings.set_last_setup(self.setup_tab.state())
        return started

    @Slot()
    def toggle_pause(self) -> None:
        if self.session.state == PAUSED:
            self.session.resume()
        else:
            self.session.pause()

    @Slot()
    def stop_training(self) -> None:
        self.session.stop()

    @Slot()
    def save_checkpoint(self) -> None:
        if not self.session.save_checkpoint():
            self.statusBar().showMessage("Checkpoints are saved while training runs.", 4000)
        else:
            self.statusBar().showMessage("Saving a checkpoint at the next step…", 4000)

    @Slot()
    def new_run(self) -> None:
        if self.session.is_training:
            self._on_error_raised("Training is running", "Stop the current training first.")
            return
        self.session.new_run()
        self.tabs.setCurrentWidget(self.setup_tab)

    def open_path(self, path: str | Path) -> None:
        """Open a dropped or command-line path: a run folder as a run, anything else as corpus."""
        path = Path(path)
        if is_run_folder(path):
            self.open_run(str(path))
        else:
            self.open_corpus(str(path))

    def open_corpus(self, path: str) -> None:
        self.settings.add_recent_corpus(path)
        self.session.load_corpus(path)
        self.tabs.setCurrentWidget(self.setup_tab)

    @Slot(str)
    def open_run(self, path: str) -> bool:
        if self.session.open_run(path):
            self.settings.add_recent_run(path)
            return True
        return False

    @Slot()
    def open_corpus_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a corpus", "",
                                              "Text (*.txt *.md);;All files (*)")
        if path:
            self.open_corpus(path)

    @Slot()
    def open_run_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a run folder",
                                                str(self.session.runs_root))
        if path:
            self.open_run(path)

    @Slot()
    def export_metrics_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export metrics", "metrics.csv", "CSV (*.csv)")
        if path:
            self.export_metrics_csv(path)

    def export_metrics_csv(self, path: str | Path) -> bool:
        """Write the current run's steps and evaluations as CSV (atomically)."""
        out = QSaveFile(str(path))
        if not out.open(QSaveFile.OpenModeFlag.WriteOnly | QSaveFile.OpenModeFlag.Text):
            self._on_error_raised("Cannot export metrics", f"Cannot write {path}.")
            return False
        out.write(self.train_tab.history.to_csv().encode("utf-8"))
        if not out.commit():
            self._on_error_raised("Cannot export metrics", f"Cannot write {path}.")
            return False
        self.statusBar().showMessage(f"Metrics written to {path}", 4000)
        return True

    @Slot()
    def export_plot_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export plot", "loss.png", "PNG (*.png)")
        if path:
            self.export_plot_png(path)

    def export_plot_png(self, path: str | Path) -> bool:
        """Save the loss plot as it looks now, as PNG (SVG export is broken in pyqtgraph 0.14)."""
        self.train_tab.loss_plot.refresh()
        pixmap = self.train_tab.loss_plot.grab()
        out = QSaveFile(str(path))
        ok = out.open(QSaveFile.OpenModeFlag.WriteOnly) and pixmap.save(out, "PNG") and out.commit()
        if not ok:
            self._on_error_raised("Cannot export the plot", f"Cannot write {path}.")
            return False
        self.statusBar().showMessage(f"Plot written to {path}", 4000)
        return True

    @Slot()
    def show_shortcuts(self) -> None:
        dialogs.show_shortcuts(self)

    @Slot()
    def _reset_zoom(self) -> None:
        for plot in [self.train_tab.loss_plot, *self.train_tab.metric_plots]:
            plot.reset_view()

    @Slot()
    def _on_x_axis_action(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.train_tab.x_mode.setCurrentIndex(int(action.data()))

    @Slot()
    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        runs = [r for r in self.settings.recent_runs() if Path(r).is_dir()]
        if not runs:
            self.recent_menu.addAction("(none yet)").setEnabled(False)
        for path in runs:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.setData(path)
            action.triggered.connect(self._on_recent_run)

    @Slot()
    def _on_recent_run(self) -> None:
        action = self.sender()
        if isinstance(action, QAction):
            self.open_run(str(action.data()))

    # ==== session events ==========================================================================
    @Slot(str, str)
    def _on_error_raised(self, title: str, message: str) -> None:
        self.last_error = (title, message)
        self.statusBar().showMessage(f"{title}: {message}", 8000)
        dialogs.show_error(self, title, message)

    @Slot(bool, str)
    def _on_start_allowed_changed(self, allowed: bool, reason: str) -> None:
        self.train_tab.set_start_allowed(allowed, reason)
        self.start_action.setEnabled(allowed and not self.session.is_training)

    @Slot(str)
    def _on_state_changed(self, state: str) -> None:
        self.train_tab.set_state(state)
        self.state_label.setText(STATE_TEXT.get(state, state))
        running = state in (PREPARING, TRAINING, PAUSED, STOPPING)
        self.start_action.setEnabled(not running and not self.setup_tab.problems())
        self.pause_action.setEnabled(state in (TRAINING, PAUSED))
        self.stop_action.setEnabled(state in (PREPARING, TRAINING, PAUSED))
        self.save_action.setEnabled(state in (TRAINING, PAUSED))
        self.setup_tab.setEnabled(not running)  # the set-up of a running run cannot change
        if state == IDLE:
            self.train_tab.runs.refresh()
            self.train_tab.set_resumable(self.session.opened_run is not None
                                         and self.session.opened_run.can_resume)

    @Slot(object)
    def _on_run_started(self, info: Any) -> None:
        self.train_tab.begin_run(info.name, info.max_steps, start_step=info.start_step,
                                 keep_history=info.resumed, peak_lr=info.peak_lr)
        self.train_tab.set_resumable(False)
        self.params_label.setText(f"{info.n_params / 1e6:,.2f}M parameters")
        self.train_tab.runs.refresh()
        self.train_tab.runs.set_current(info.path)

    @Slot(object)
    def _on_step_finished(self, ev: Any) -> None:
        self.train_tab.add_step({"step": ev.step, "tokens": ev.tokens_seen,
                                 "elapsed": ev.elapsed, "loss": ev.loss, "lr": ev.lr,
                                 "grad_norm": ev.grad_norm, "tokens_per_s": ev.tokens_per_sec,
                                 "eta": ev.eta})

    @Slot(object)
    def _on_eval_finished(self, ev: Any) -> None:
        h = self.train_tab.history
        self.train_tab.add_eval({"step": ev.step, "tokens": h.steps.last("tokens"),
                                 "elapsed": h.steps.last("elapsed"), "train_loss": ev.train_loss,
                                 "val_loss": ev.val_loss, "train_bpb": ev.train_bpb,
                                 "val_bpb": ev.val_bpb})

    @Slot(object)
    def _on_sample_ready(self, ev: Any) -> None:
        self.train_tab.add_sample(ev.step, ev.prompt + ev.text)

    @Slot(object)
    def _on_checkpoint_saved(self, ev: Any) -> None:
        best = " (best so far)" if ev.best else ""
        self.statusBar().showMessage(f"Checkpoint saved at step {ev.step:,}{best}", 5000)

    @Slot(str)
    def _on_status_message(self, message: str) -> None:
        if message:
            self.statusBar().showMessage(message, 8000)

    @Slot(object)
    def _on_run_opened(self, opened: Any) -> None:
        self.setup_tab.apply_run(opened.model_config, opened.train_config)
        max_steps = opened.train_config.max_steps if opened.train_config else 0
        self.train_tab.show_history(opened.history, max_steps)
        self.train_tab.set_resumable(opened.can_resume)
        self.train_tab.runs.set_current(opened.path)
        if opened.n_params:
            self.params_label.setText(f"{opened.n_params / 1e6:,.2f}M parameters")
        self.tabs.setCurrentWidget(self.train_tab)
        self.statusBar().showMessage(f"Opened run {opened.path.name}", 5000)

    @Slot()
    def _on_run_closed(self) -> None:
        self.train_tab.clear()
        self.train_tab.set_resumable(False)
        self._update_params()

    @Slot()
    def apply_theme(self) -> None:
        """Re-colour what Qt does not (plots, error text) after a light/dark switch."""
        theme = plot_theme()
        for plot in [self.train_tab.loss_plot, *self.train_tab.metric_plots]:
            plot.apply_theme(theme)
        for label in self.findChildren(ErrorLabel):
            label.apply_theme(theme)

    @Slot()
    def _update_params(self) -> None:
        if self.session.is_training:
            return
        est = self.setup_tab.model_box.estimate
        self.params_label.setText(f"{est.n_params / 1e6:,.2f}M parameters" if est else "")

    @Slot()
    def _update_speed(self) -> None:
        tps = self.train_tab.tokens_per_s
        if self.session.state == TRAINING and math.isfinite(tps):
            self.speed_label.setText(f"{human_tokens(tps)} tokens/s")
        else:
            self.speed_label.setText("")

    # ==== window events ===========================================================================
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt's name)
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_path(paths[0])

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.session.is_training:
            answer = dialogs.ask_save_before_close(self)
            if answer == dialogs.CANCEL:
                event.ignore()
                return
            self.session.stop(save=answer == dialogs.SAVE)
        self.settings.set_geometry(self.saveGeometry())
        self.settings.set_last_setup(self.setup_tab.state())
        self.settings.sync()
        self.train_tab.timer.stop()
        self.status_timer.stop()
        if not self.session.shutdown():
            log.error("a worker thread did not stop in time")
        event.accept()


def _still_there(spec: str) -> bool:
    """A last corpus worth reopening at start: bundled, or a file that still exists (never a
    download: starting the app must not start one)."""
    return spec.startswith("builtin:") or (":" not in spec and Path(spec).exists())
