"""The main window's menus and their keyboard shortcuts.

File (new run, open corpus/run, recent runs, save checkpoint, exports, quit), Training (start,
pause/resume, stop — on actions, so the shortcuts work from any tab), View (tabs, log scale,
x axis, zoom) and Help (shortcuts, about). Left out: what the actions do (MainWindow's slots).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from gptstudio.ui import dialogs


def _action(window: QMainWindow, menu: QMenu, text: str, slot: Any,
            shortcut: str | QKeySequence.StandardKey | None = None, name: str = "") -> QAction:
    action = QAction(text, window)
    if shortcut is not None:
        action.setShortcut(QKeySequence(shortcut))
    if name:
        action.setObjectName(name)
    action.triggered.connect(slot)
    menu.addAction(action)
    return action


def build_menus(w: Any) -> None:
    """The menus of the MainWindow `w`. Sets the actions that are enabled and disabled with the
    training state (`w.start_action`, `w.pause_action`, `w.stop_action`, `w.save_action`), the
    log-scale toggle and `w.recent_menu`."""
    keys = QKeySequence.StandardKey
    bar = w.menuBar()
    file = bar.addMenu("&File")
    _action(w, file, "&New run", w.new_run, keys.New, "newRunAction")
    _action(w, file, "Open &corpus…", w.open_corpus_dialog, keys.Open, "openCorpusAction")
    _action(w, file, "Open &run…", w.open_run_dialog, "Ctrl+Shift+O", "openRunAction")
    w.recent_menu = file.addMenu("Recent &runs")
    w.recent_menu.setObjectName("recentRunsMenu")
    w.recent_menu.aboutToShow.connect(w._fill_recent_menu)
    file.addSeparator()
    w.save_action = _action(w, file, "&Save checkpoint", w.save_checkpoint, keys.Save,
                            "saveCheckpointAction")
    _action(w, file, "&Export metrics CSV…", w.export_metrics_dialog, "Ctrl+E",
            "exportCsvAction")
    _action(w, file, "Export &plot PNG…", w.export_plot_dialog, "Ctrl+Shift+E",
            "exportPngAction")
    file.addSeparator()
    _action(w, file, "&Quit", w.close, keys.Quit, "quitAction")

    train = bar.addMenu("&Training")
    w.start_action = _action(w, train, "&Start", w.start_training, "Ctrl+Return", "startAction")
    w.pause_action = _action(w, train, "&Pause / resume", w.toggle_pause, "Ctrl+P",
                             "pauseAction")
    w.stop_action = _action(w, train, "S&top", w.stop_training, "Ctrl+.", "stopAction")

    view = bar.addMenu("&View")
    _action(w, view, "&Setup tab", lambda: w.tabs.setCurrentIndex(0), "Ctrl+1")
    _action(w, view, "&Train tab", lambda: w.tabs.setCurrentIndex(1), "Ctrl+2")
    view.addSeparator()
    w.log_action = _action(w, view, "&Log scale", w.train_tab.log_y.setChecked, "Ctrl+L",
                           "logScaleAction")
    w.log_action.setCheckable(True)
    w.train_tab.log_y.toggled.connect(w.log_action.setChecked)
    axis = view.addMenu("Loss plot &x axis")
    group = QActionGroup(w)
    for index in range(w.train_tab.x_mode.count()):
        action = QAction(w.train_tab.x_mode.itemText(index), w, checkable=True)
        action.setData(index)
        action.setChecked(index == 0)
        action.triggered.connect(w._on_x_axis_action)
        group.addAction(action)
        axis.addAction(action)
    _action(w, view, "&Reset plot zoom", w._reset_zoom, "Ctrl+0")

    help_menu = bar.addMenu("&Help")
    _action(w, help_menu, "&Keyboard shortcuts", w.show_shortcuts, keys.HelpContents,
            "shortcutsAction")
    _action(w, help_menu, "&About GPT Studio", lambda: dialogs.show_about(w))
