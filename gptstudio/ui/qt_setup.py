"""Process-wide set-up every window relies on: the app's names, pyqtgraph's options, threads.

Import order matters: PySide6 is imported before pyqtgraph so pyqtgraph binds to it (PITFALLS).
Both `app.run_app()` and `MainWindow` call `configure_pyqtgraph()`, so a window made inside a
test's QApplication is set up like the real one. Left out: creating the QApplication (`app.py`).
"""

from __future__ import annotations

import os

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


def leave_a_core_for_the_gui() -> None:
    """Train with one intra-op thread fewer than there are cores (at least one).

    PyTorch's OpenMP threads spin while they wait; with as many of them as cores, the GUI thread
    has to fight them for the CPU: training slows down many times over and the window stutters
    (docs/MEASUREMENTS.md, "App").
    """
    import torch

    cores = os.cpu_count() or 1
    torch.set_num_threads(max(1, min(torch.get_num_threads(), cores - 1)))
