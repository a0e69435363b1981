"""The main window: the tabs from the registry, menus, status bar, drag and drop, persistence.

The window owns one `Session`, builds every tab of `tabs.TABS` with it (each tab subscribes
itself to the services it needs) and places the tabs' actions in the menus. It never connects a
service to a tab and never reads a tab's children: it shows the session's errors in non-modal
dialogs, brings a tab forward when the session asks, remembers its geometry and the recent runs,
loads the start-up corpus, and closes cleanly: while training it asks whether to save, then
stops the workers and waits for their threads. Left out: the tabs' insides, all engine work.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QTimer, Slot
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication, \
    QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMenu, QTabWidget, QWidget

from gptstudio.core.corpora import DEFAULT_CORPUS
from gptstudio.ui import dialogs
from gptstudio.ui.menus import WindowActions, action, build_menus, shortcut_rows
from gptstudio.ui.qt_setup import configure_pyqtgraph
from gptstudio.ui.services.state import TrainingState
from gptstudio.ui.session import Session
from gptstudio.ui.tabs import TABS
from gptstudio.ui.tabs.base import Tab
from gptstudio.ui.theme import plot_theme
from gptstudio.ui.widgets.status_bar import StatusBar

log = logging.getLogger(__name__)
KEYS = QKeySequence.StandardKey


class MainWindow(QMainWindow):
    """GPT Studio's window. `MainWindow()` builds everything with defaults in a running app."""

    def __init__(self, parent: QWidget | None = None, *, runs_root: Path | None = None) -> None:
        super().__init__(parent)
        configure_pyqtgraph()  # idempotent: also right when a test made the QApplication
        self.setWindowTitle("GPT Studio")
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.last_error: tuple[str, str] | None = None  # the last error shown (for tests)
        self.session = Session(self, runs_root=runs_root)  # default: GPTSTUDIO_RUNS_DIR or app data
        self.settings = self.session.settings

        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.setDocumentMode(True)
        self._tabs: dict[str, Tab] = {}
        for info in TABS:
            tab = info.create(self.session)
            self._tabs[info.key] = tab
            self.tabs.addTab(tab, info.title)  # type: ignore[arg-type]
        self.setCentralWidget(self.tabs)
        self.setStatusBar(StatusBar(self.session))
        self.window_actions = self._make_actions()
        build_menus(self, self.window_actions, TABS,
                    [entry for tab in self._tabs.values() for entry in tab.tab_actions()])

        s = self.session
        s.error_raised.connect(self._on_error_raised)
        s.tab_requested.connect(self.show_tab)
        s.training.state_changed.connect(self._on_state_changed)
        QGuiApplication.styleHints().colorSchemeChanged.connect(self.apply_theme)

        self.resize(1280, 820)
        geometry = self.settings.geometry()
        if geometry is not None:
            self.restoreGeometry(geometry)
        # The bundled default is small: load it now so the window is ready to train at once.
        s.data.load_corpus(f"builtin:{DEFAULT_CORPUS}", background=False)
        last = self.settings.last_setup().get("corpus")
        if isinstance(last, str) and last != f"builtin:{DEFAULT_CORPUS}" and _still_there(last):
            s.data.load_corpus(last)
        QTimer.singleShot(0, s.data.check_tiktoken)

    def _make_actions(self) -> WindowActions:
        recent = QMenu("Recent &runs", self)
        recent.setObjectName("recentRunsMenu")
        recent.aboutToShow.connect(self._fill_recent_menu)
        tabs = []
        for index, info in enumerate(TABS):
            item = action(self, f"&{info.title} tab", self._on_tab_action, f"Ctrl+{index + 1}",
                          f"showTab:{info.key}")
            item.setData(info.key)
            tabs.append(item)
        return WindowActions(
            new_run=action(self, "&New run", self.session.new_run, KEYS.New, "newRunAction",
                           "New run"),
            open_corpus=action(self, "Open &corpus…", self.open_corpus_dialog, KEYS.Open,
                               "openCorpusAction", "Open a corpus file"),
            open_run=action(self, "Open &run…", self.open_run_dialog, "Ctrl+Shift+O",
                            "openRunAction", "Open a run folder"),
            quit=action(self, "&Quit", self.close, KEYS.Quit, "quitAction", "Quit"),
            shortcuts=action(self, "&Keyboard shortcuts", self.show_shortcuts,
                             KEYS.HelpContents, "shortcutsAction", "This list"),
            about=action(self, "&About GPT Studio", self._show_about, None, "aboutAction"),
            recent_menu=recent, tabs=tabs,
            tour=action(self, "&Tour", self.show_tour, None, "tourAction", "A first walk"))

    # ==== public ==================================================================================
    def tab(self, key: str) -> Tab:
        """The tab registered under `key` (see tabs.TABS)."""
        return self._tabs[key]

    @Slot(str)
    def show_tab(self, key: str) -> None:
        if key in self._tabs:
            self.tabs.setCurrentWidget(self._tabs[key])  # type: ignore[arg-type]

    def open_path(self, path: str | Path) -> None:
        """Open a dropped or command-line path: a run folder as a run, anything else as corpus."""
        self.session.open_path(path)

    @Slot()
    def open_corpus_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a corpus", "",
                                              "Text (*.txt *.md);;All files (*)")
        if path:
            self.session.open_corpus(path)

    @Slot()
    def open_run_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a run folder",
                                                str(self.session.runs.root))
        if path:
            self.session.open_run(path)

    @Slot()
    def show_shortcuts(self) -> None:
        dialogs.show_shortcuts(self, shortcut_rows(self.findChildren(QAction)))

    @Slot()
    def show_tour(self) -> None:
        from gptstudio.ui.tour import Tour  # the tour's steps are read only when it opens

        self.tour = getattr(self, "tour", None) or Tour(self)
        self.tour.start()

    @Slot()
    def apply_theme(self) -> None:
        """Re-colour what Qt does not (plots, error text) after a light/dark switch."""
        theme = plot_theme()
        for tab in self._tabs.values():
            tab.apply_theme(theme)

    # ==== slots ===================================================================================
    @Slot()
    def _show_about(self) -> None:
        dialogs.show_about(self)

    @Slot()
    def _on_tab_action(self) -> None:
        sender = self.sender()
        if isinstance(sender, QAction):
            self.show_tab(str(sender.data()))

    @Slot()
    def _fill_recent_menu(self) -> None:
        menu = self.window_actions.recent_menu
        menu.clear()
        runs = self.session.runs.recent_runs()
        if not runs:
            menu.addAction("(none yet)").setEnabled(False)
        for path in runs:
            item = menu.addAction(Path(path).name)
            item.setToolTip(path)
            item.setData(path)
            item.triggered.connect(self._on_recent_run)

    @Slot()
    def _on_recent_run(self) -> None:
        sender = self.sender()
        if isinstance(sender, QAction):
            self.session.open_run(str(sender.data()))

    @Slot(str, str)
    def _on_error_raised(self, title: str, message: str) -> None:
        self.last_error = (title, message)
        self.statusBar().showMessage(f"{title}: {message}", 8000)
        dialogs.show_error(self, title, message)

    @Slot(object)
    def _on_state_changed(self, state: TrainingState) -> None:
        self.window_actions.new_run.setEnabled(state.allows("new_run"))

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
        training = self.session.training
        if training.state.is_running:
            answer = dialogs.ask_save_before_close(self)
            if answer == dialogs.CANCEL:
                event.ignore()
                return
            training.stop(save=answer == dialogs.SAVE)
        self.settings.set_geometry(self.saveGeometry())
        if not self.session.shutdown():  # tabs remember their state on `closing`
            log.error("a worker thread did not stop in time")
        self.settings.sync()
        event.accept()


def _still_there(spec: str) -> bool:
    """A last corpus worth reopening at start: bundled, or a file that still exists (never a
    download: starting the app must not start one)."""
    return spec.startswith("builtin:") or (":" not in spec and Path(spec).exists())
