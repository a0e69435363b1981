"""The desktop app: the main window, its tabs, the services they share and their workers.

Everything Qt lives here; the engine (`gptstudio.core`) never imports it. `run_app()` opens the
app; `MainWindow()` builds the whole window inside an already running QApplication.

Nothing is imported eagerly: `import gptstudio.ui.history` (plain numpy) must not pull in the
window, torch and pyqtgraph. `from gptstudio.ui import MainWindow, run_app` resolves on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "MainWindow": "gptstudio.ui.main_window",
    "run_app": "gptstudio.ui.app",
    "create_app": "gptstudio.ui.app",
}

__all__ = ["MainWindow", "run_app", "create_app"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'gptstudio.ui' has no attribute {name!r}")
