"""The Train tab's menu actions and exports.

Training (start, pause/resume, stop) and File entries (save a checkpoint, export the metrics as
CSV or the loss plot as PNG) live on actions, so their shortcuts work from any tab; View has the
loss plot's log scale, x axis and zoom reset. Enabling follows the same rule table as the
buttons (`TrainingState.allows`). Left out: what the actions do (the tab's slots).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QSaveFile
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from gptstudio.ui.history import RunHistory
from gptstudio.ui.services.state import TrainingState
from gptstudio.ui.tabs.base import TabAction
from gptstudio.ui.widgets.plots import LossPlot

KEYS = QKeySequence.StandardKey


def make_action(parent: QObject, text: str, shortcut: str | QKeySequence.StandardKey | None,
                name: str, tip: str) -> QAction:
    """An action; `tip` says what it does (status bar, shortcuts dialog)."""
    action = QAction(text, parent)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    action.setObjectName(name)
    action.setStatusTip(tip)
    return action


class TrainActions:
    """The actions of one Train tab (`entries()` places them in the window's menus)."""

    def __init__(self, tab: QWidget, x_modes: list[str]) -> None:
        self.start = make_action(tab, "&Start", "Ctrl+Return", "startAction", "Start training")
        self.pause = make_action(tab, "&Pause / resume", "Ctrl+P", "pauseAction",
                                 "Pause / resume")
        self.stop = make_action(tab, "S&top", "Ctrl+.", "stopAction",
                                "Stop (saves a checkpoint)")
        self.save = make_action(tab, "&Save checkpoint", KEYS.Save, "saveCheckpointAction",
                                "Save a checkpoint now")
        self.export_csv = make_action(tab, "&Export metrics CSV…", "Ctrl+E", "exportCsvAction",
                                      "Export metrics as CSV")
        self.export_png = make_action(tab, "Export &plot PNG…", "Ctrl+Shift+E",
                                      "exportPngAction", "Export the loss plot as PNG")
        self.log_scale = make_action(tab, "&Log scale", "Ctrl+L", "logScaleAction",
                                     "Log scale on the loss plot")
        self.log_scale.setCheckable(True)
        self.reset_zoom = make_action(tab, "&Reset plot zoom", "Ctrl+0", "resetZoomAction",
                                      "Reset the plots' zoom")
        self.x_axis = QMenu("Loss plot &x axis", tab)
        self.x_axis.setObjectName("xAxisMenu")
        self.x_group = QActionGroup(tab)
        for index, label in enumerate(x_modes):
            action = QAction(label, tab, checkable=True)
            action.setData(index)
            action.setChecked(index == 0)
            self.x_group.addAction(action)
            self.x_axis.addAction(action)

    def entries(self) -> list[TabAction]:
        return [TabAction("File", self.save), TabAction("File", self.export_csv),
                TabAction("File", self.export_png),
                TabAction("Training", self.start), TabAction("Training", self.pause),
                TabAction("Training", self.stop),
                TabAction("View", self.log_scale), TabAction("View", submenu=self.x_axis),
                TabAction("View", self.reset_zoom)]

    def set_state(self, state: TrainingState, start_allowed: bool) -> None:
        self.start.setEnabled(state.allows("start") and start_allowed)
        self.pause.setEnabled(state.allows("pause"))
        self.stop.setEnabled(state.allows("stop"))
        self.save.setEnabled(state.allows("save_checkpoint"))


def write_metrics_csv(history: RunHistory, path: str | Path) -> bool:
    """Write a run's steps and evaluations as CSV, atomically; False if it cannot be written."""
    out = QSaveFile(str(path))
    if not out.open(QSaveFile.OpenModeFlag.WriteOnly | QSaveFile.OpenModeFlag.Text):
        return False
    out.write(history.to_csv().encode("utf-8"))
    return out.commit()


def write_plot_png(plot: LossPlot, path: str | Path) -> bool:
    """Save the loss plot as it looks now, as PNG (SVG export is broken in pyqtgraph 0.14)."""
    plot.refresh()
    pixmap = plot.grab()
    out = QSaveFile(str(path))
    return bool(out.open(QSaveFile.OpenModeFlag.WriteOnly) and pixmap.save(out, "PNG")
                and out.commit())
