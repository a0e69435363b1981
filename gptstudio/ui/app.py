"""The entry point of the desktop app: the QApplication, a dark palette, and `run_app()`.

Only `gptstudio.ui.run_app` / `create_app` (lazily) and `main.py` import this module; nothing
inside the app does, so importing a part of the UI never pulls in the entry point. Left out:
every window and widget; this only prepares the process and launches `MainWindow`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from gptstudio.paths import resources_dir
from gptstudio.ui.pyside_fix import guard_singleton_refcounts
from gptstudio.ui.qt_setup import APPLICATION, ORGANIZATION, configure_pyqtgraph

def dark_palette() -> QPalette:
    """A dark palette for the Fusion style, for platforms whose theme does not provide one
    (offscreen rendering, older desktops). Where Qt knows the system is dark it does this itself."""
    p = QPalette()
    window, base, text = QColor(45, 45, 48), QColor(30, 30, 30), QColor(220, 220, 220)
    roles = {
        QPalette.ColorRole.Window: window, QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base, QPalette.ColorRole.AlternateBase: QColor(40, 40, 43),
        QPalette.ColorRole.Text: text, QPalette.ColorRole.Button: window,
        QPalette.ColorRole.ButtonText: text, QPalette.ColorRole.ToolTipBase: base,
        QPalette.ColorRole.ToolTipText: text, QPalette.ColorRole.Highlight: QColor(42, 130, 218),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.PlaceholderText: QColor(140, 140, 140),
        QPalette.ColorRole.Link: QColor(90, 170, 255),
    }
    for role, color in roles.items():
        p.setColor(role, color)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text,
                 QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    return p


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


def leave_a_core_for_the_gui() -> None:
    """Train with one intra-op thread fewer than there are cores (at least one).

    PyTorch's OpenMP threads spin while they wait; with as many of them as cores, the GUI thread
    has to fight them for the CPU: training slows down many times over and the window stutters
    (docs/MEASUREMENTS.md, "App").
    """
    import torch

    cores = os.cpu_count() or 1
    torch.set_num_threads(max(1, min(torch.get_num_threads(), cores - 1)))


def run_app(argv: Sequence[str] | None = None) -> int:
    """Open GPT Studio and run the event loop until the last window closes; returns the exit code.

    `argv` beyond the program name may hold a corpus path or a run folder to open at start.
    """
    app = create_app(argv)
    leave_a_core_for_the_gui()
    from gptstudio.ui.main_window import MainWindow  # after pyqtgraph is configured

    window = MainWindow()
    window.show()
    args = list(argv if argv is not None else sys.argv)[1:]
    if args:
        # Open after the event loop starts so the window paints first.
        QTimer.singleShot(0, lambda: window.open_path(args[0]))
    return app.exec()
