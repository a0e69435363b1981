"""Application set-up: the QApplication, pyqtgraph's options, the palette, and `run_app()`.

Import order matters: PySide6 is imported before pyqtgraph so pyqtgraph binds to it (PITFALLS).
This module leaves out every window and widget; it only prepares the process and launches
`MainWindow`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from PySide6.QtCore import QCoreApplication, Qt, QTimer
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

import pyqtgraph as pg  # noqa: E402  (after PySide6 on purpose)

from gptstudio.paths import resources_dir
from gptstudio.ui.pyside_fix import guard_singleton_refcounts

ORGANIZATION = "GPTStudio"
APPLICATION = "GPT Studio"


def configure_pyqtgraph() -> None:
    """Process-wide set-up every window relies on; safe to call more than once.

    Row-major images keep attention matrices the right way round; antialiasing keeps thin loss
    curves readable on high-DPI screens. The None guard works around a PySide6 6.12 bug on
    Python 3.11 that otherwise aborts the app after a few thousand Qt calls (see pyside_fix).
    """
    guard_singleton_refcounts()
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
    has to fight them for the CPU. On a busy 2-core machine a 30-step run of the nano model was
    8x slower with 2 threads than with 1, and the window stuttered.
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
