"""The desktop app: the main window, its tabs, and the background workers that drive the engine.

Everything Qt lives here; the engine (`gptstudio.core`) never imports it. `run_app()` opens the
app; `MainWindow()` builds the whole window inside an already running QApplication.
"""

from gptstudio.ui.app import run_app
from gptstudio.ui.main_window import MainWindow

__all__ = ["MainWindow", "run_app"]
