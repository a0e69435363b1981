"""Application set-up: the QApplication, pyqtgraph's options, the palette, and `run_app()`.

Import order matters: PySide6 is imported before pyqtgraph so pyqtgraph binds to it (PITFALLS).
This module leaves out every window and widget; it only prepares the process and launches
`MainWindow`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtGui import QGuiApplication, QIcon
from PySide6.QtWidgets import QApplication

import pyqtgraph as pg  # noqa: E402  (after PySide6 on purpose)

from gptstudio.paths import resources_dir
from gptstudio.ui.pyside_fix import guard_none_refcount

ORGANIZATION = "GPTStudio"
APPLICATION = "GPT Studio"


def configure_pyqtgraph() -> None:
    """Process-wide set-up every window relies on; safe to call more than once.

    Row-major images keep attention matrices the right way round; antialiasing keeps thin loss
    curves readable on high-DPI screens. The None guard works around a PySide6 6.12 bug on
    Python 3.11 that otherwise aborts the app after a few thousand Qt calls (see pyside_fix).
    """
    guard_none_refcount()
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)


def is_dark_palette() -> bool:
    """True when the system (or the user) asked for a dark colour scheme."""
    app = QGuiApplication.instance()
    if app is None:
        return False
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    # Unknown scheme (offscreen, old desktops): judge from the window colour itself.
    return QGuiApplication.palette().window().color().lightness() < 128


def create_app(argv: Sequence[str] | None = None) -> QApplication:
    """Return the process's QApplication, creating and configuring it if needed."""
    guard_none_refcount()  # before the first thousands of Qt calls
    app = QApplication.instance()
    if app is None:
        QCoreApplication.setOrganizationName(ORGANIZATION)
        QCoreApplication.setApplicationName(APPLICATION)
        app = QApplication(list(argv if argv is not None else sys.argv))
        app.setStyle("Fusion")  # the same look on every platform; follows the system palette
        icon = resources_dir() / "icons" / "gptstudio.svg"
        if icon.is_file():
            app.setWindowIcon(QIcon(str(icon)))
    configure_pyqtgraph()
    return app  # type: ignore[return-value]


def run_app(argv: Sequence[str] | None = None) -> int:
    """Open GPT Studio and run the event loop until the last window closes; returns the exit code.

    `argv` beyond the program name may hold a corpus path or a run folder to open at start.
    """
    started = time.perf_counter()
    app = create_app(argv)
    from gptstudio.ui.main_window import MainWindow  # after pyqtgraph is configured

    window = MainWindow()
    window.show()
    args = list(argv if argv is not None else sys.argv)[1:]
    if args:
        # Open after the event loop starts so the window paints first.
        QTimer.singleShot(0, lambda: window.open_path(args[0]))
    window.startup_seconds = time.perf_counter() - started
    return app.exec()
