"""Process-wide Qt set-up every window relies on: the app's names and pyqtgraph's options.

Import order matters: PySide6 is imported before pyqtgraph so pyqtgraph binds to it (PITFALLS).
Both `app.run_app()` and `MainWindow` call `configure_pyqtgraph()`, so a window made inside a
test's QApplication is set up like the real one. Left out: creating the QApplication (`app.py`).
"""

from __future__ import annotations

import PySide6.QtCore  # noqa: F401  (before pyqtgraph on purpose)
import pyqtgraph as pg

from gptstudio.ui.pyside_fix import guard_singleton_refcounts

ORGANIZATION = "GPTStudio"
APPLICATION = "GPT Studio"


def configure_pyqtgraph() -> None:
    """Safe to call more than once.

    Row-major images keep attention matrices the right way round; antialiasing keeps thin loss
    curves readable on high-DPI screens. The None guard works around a PySide6 6.12 bug on
    Python 3.11 that otherwise aborts the app after a few thousand Qt calls (see pyside_fix).
    """
    guard_singleton_refcounts()
    pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)
