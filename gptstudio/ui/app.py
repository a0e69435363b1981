"""The entry point of the desktop app: the QApplication, a dark palette, and `run_app()`.

Only `gptstudio.ui.run_app` / `create_app` (lazily) and `main.py` import this module; nothing
inside the app does, so importing a part of the UI never pulls in the entry point. Left out:
every window and widget; this only prepares the process and launches `MainWindow`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from gptstudio.paths import resources_dir
from gptstudio.ui.pyside_fix import guard_singleton_refcounts
from gptstudio.ui.qt_setup import APPLICATION, ORGANIZATION, configure_pyqtgraph, \
    display_problem, leave_a_core_for_the_gui

def create_app(argv: Sequence[str] | None = None) -> QApplication:
    """Return the process's QApplication, creating and configuring it if needed."""
    guard_singleton_refcounts()  # before the first thousands of Qt calls
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
    Where no window can open (no display, a missing system library) it says why and returns 1.
    """
    problem = display_problem()
    if problem is not None and QApplication.instance() is None:
        print(f"gptstudio: cannot open the window: {problem}", file=sys.stderr)
        return 1
    app = create_app(argv)
    leave_a_core_for_the_gui()
    from gptstudio.ui.main_window import MainWindow  # after pyqtgraph is configured

    window = MainWindow()
    window.show()
    from gptstudio.ui.tour import offer_tour  # the first-run tour, once per user; never in tests

    QTimer.singleShot(0, lambda: offer_tour(window, window.settings))
    args = list(argv if argv is not None else sys.argv)[1:]
    if args:
        # Open after the event loop starts so the window paints first.
        QTimer.singleShot(0, lambda: window.open_path(args[0]))
    return app.exec()
