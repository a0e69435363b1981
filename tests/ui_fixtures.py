"""Fixtures for the app's tests: isolated settings and runs, no network, no stray threads.

Import with `from tests.ui_fixtures import *` in a test module. Every UI test then
  * stores QSettings in its own temporary folder (never the user's),
  * writes runs into its own temporary folder (GPTSTUDIO_RUNS_DIR),
  * cannot download tiktoken encodings (GPTSTUDIO_OFFLINE, empty TIKTOKEN_CACHE_DIR),
  * fails if it leaves a worker QThread running, or a Qt warning is printed (pytest-qt),
  * never blocks on a modal question (the close question is answered by `close_answer`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QSettings

from gptstudio.ui.pyside_fix import guard_singleton_refcounts

# PySide6 6.12 on Python 3.11 drops references to None and True; without the guard a long
# test session aborts with "none_dealloc" (see gptstudio/ui/pyside_fix.py).
guard_singleton_refcounts()

# Qt warnings fail the tests (STYLE.md 14), except the offscreen platform's note that it cannot
# resize windows to their size hints. Each UI test module sets `pytestmark = QT_WARNINGS_FAIL`.
QT_WARNINGS_FAIL = [pytest.mark.qt_log_level_fail("WARNING"),
                    pytest.mark.qt_log_ignore("does not support propagateSizeHints")]

__all__ = ["ui_env", "one_torch_thread", "no_stray_threads", "window", "close_answer",
           "make_window", "small_setup", "wait_for_idle"]


@pytest.fixture(autouse=True)
def ui_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolated settings, runs folder and tiktoken cache for one test."""
    settings_dir = tmp_path / "settings"
    settings_dir.mkdir()
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(settings_dir))
    runs = tmp_path / "runs"
    monkeypatch.setenv("GPTSTUDIO_RUNS_DIR", str(runs))
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", "1")
    empty_cache = tmp_path / "tiktoken-cache"
    empty_cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(empty_cache))
    return runs


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Train with one intra-op thread: on a busy 2-core machine, two OpenMP threads spinning
    beside the GUI thread made a 30-step run 8x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def no_stray_threads(qapp):
    """Fail the test if a worker thread started by the app is still running afterwards."""
    from gptstudio.ui.workers import running_workers

    yield
    # A task that has just reported its result may still be leaving its thread: give it a
    # moment. A thread that is really left running (a training nobody stopped) stays.
    left = [h for h in running_workers() if not h.thread.wait(2_000)]
    names = [h.thread.objectName() for h in left]
    for handle in left:  # stop them so the next tests are not affected, then fail
        handle.stop(30_000)
    assert not left, f"worker threads left running: {names}"


@pytest.fixture
def close_answer(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """The answer to "save before closing?" (default: save); records whether it was asked."""
    from gptstudio.ui import dialogs

    state: dict[str, object] = {"answer": dialogs.SAVE, "asked": 0}

    def ask(_parent) -> str:
        state["asked"] = int(state["asked"]) + 1
        return str(state["answer"])

    monkeypatch.setattr(dialogs, "ask_save_before_close", ask)
    return state


@pytest.fixture
def make_window(qtbot, close_answer):
    """A factory of MainWindows that are closed (and their workers stopped) after the test."""
    from gptstudio.ui import MainWindow

    windows = []

    def make() -> MainWindow:
        w = MainWindow()
        qtbot.addWidget(w)
        w.show()
        qtbot.waitExposed(w)
        # Let the background tiktoken check finish so it never outlives the test.
        qtbot.waitUntil(lambda: w.session.tiktoken_statuses is not None, timeout=10_000)
        windows.append(w)
        return w

    yield make
    for w in windows:
        w.close()


@pytest.fixture
def window(make_window):
    return make_window()


def small_setup(w, *, steps: int = 30, eval_interval: int = 10, preset: str = "nano") -> None:
    """A run that takes a second or two on a CPU: the nano preset and few steps."""
    setup = w.setup_tab
    setup.model_box.set_preset(preset)
    box = setup.training_box
    for key, value in {"max_steps": str(steps), "batch_size": "4", "eval_interval":
                       str(eval_interval), "eval_iters": "2", "checkpoint_interval": "10",
                       "warmup_steps": "2", "precision": "fp32", "compile": "off"}.items():
        box.set_field(key, value)
    assert box.config() is not None, box.errors
    assert not setup.problems(), setup.problems()


def wait_for_idle(qtbot, w, timeout: int = 60_000) -> None:
    """Wait until the training worker has finished and the window shows it."""
    qtbot.waitUntil(lambda: not w.session.is_training, timeout=timeout)
