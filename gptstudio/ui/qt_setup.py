"""Process-wide set-up every window relies on: the app's names, pyqtgraph's options, threads.

Import order matters: PySide6 is imported before pyqtgraph so pyqtgraph binds to it (PITFALLS).
Both `app.run_app()` and `MainWindow` call `configure_pyqtgraph()`, so a window made inside a
test's QApplication is set up like the real one. Left out: creating the QApplication (`app.py`).
"""

from __future__ import annotations

import ctypes.util
import os
import sys
from collections.abc import Callable, Mapping

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


def display_problem(env: Mapping[str, str] | None = None, system: str | None = None,
                    find_library: Callable[[str], str | None] = ctypes.util.find_library,
                    ) -> str | None:
    """Why the window could not open here, in one sentence with the fix; None if it can.

    Without it, Qt aborts the process (exit 134) with a dump of its platform plugins. Only Linux
    desktops are checked: offscreen and other platforms chosen with QT_QPA_PLATFORM need nothing.
    """
    env = os.environ if env is None else env
    system = sys.platform if system is None else system
    platform = env.get("QT_QPA_PLATFORM", "")
    if not system.startswith("linux") or platform not in ("", "xcb", "wayland"):
        return None
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return ("no display was found (DISPLAY and WAYLAND_DISPLAY are not set): start GPT Studio "
                "in a desktop session, or set QT_QPA_PLATFORM=offscreen to run it without one.")
    x11 = platform == "xcb" or (not platform and not env.get("WAYLAND_DISPLAY"))
    if x11 and find_library("xcb-cursor") is None:
        return ("Qt's X11 support needs the system library libxcb-cursor0, which is missing: "
                "install it (e.g. sudo apt install libxcb-cursor0), or set "
                "QT_QPA_PLATFORM=offscreen to run without a window.")
    return None
