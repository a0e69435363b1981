"""Fixtures for the app's tests: isolated settings and runs, no network, no stray threads.

Import with `from tests.ui_fixtures import *` in a test module. Every UI test then
  * stores QSettings in its own temporary folder (never the user's),
  * writes runs into its own temporary folder (GPTSTUDIO_RUNS_DIR),
  * cannot download tiktoken encodings (GPTSTUDIO_OFFLINE, empty TIKTOKEN_CACHE_DIR),
  * fails if it leaves a worker QThread running, or a Qt warning is printed (pytest-qt),
  * never blocks on a modal question (the close question is answered by `close_answer`).

Tests reach the window's parts only through the helpers at the end of this file (`setup_tab(w)`,
`model_box(w)`, `history(w)`, `wait_step(qtbot, w)`, ...), never through attribute chains, so
moving a widget means editing this one file.
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
           "make_window"]


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
    """Train with one intra-op thread: two OpenMP threads spinning beside the GUI thread make a
    short run many times slower on a busy 2-core machine (docs/MEASUREMENTS.md, "App")."""
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
        qtbot.waitUntil(lambda: w.session.data.tiktoken_statuses is not None, timeout=10_000)
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
    model_box(w).set_preset(preset)
    box = training_box(w)
    for key, value in {"max_steps": str(steps), "batch_size": "4", "eval_interval":
                       str(eval_interval), "eval_iters": "2", "checkpoint_interval": "10",
                       "warmup_steps": "2", "precision": "fp32", "compile": "off"}.items():
        box.set_field(key, value)
    assert box.config() is not None, box.errors
    assert not setup_tab(w).problems(), setup_tab(w).problems()


def wait_for_idle(qtbot, w, timeout: int = 60_000) -> None:
    """Wait until the training worker has finished and the window shows it."""
    qtbot.waitUntil(lambda: not is_training(w), timeout=timeout)


# -- the window's parts ------------------------------------------------------------------------
def session(w):
    return w.session


def data(w):
    return w.session.data


def training(w):
    return w.session.training


def runs(w):
    return w.session.runs


def setup_tab(w):
    return w.tab("setup")


def train_tab(w):
    return w.tab("train")


def corpus_box(w):
    return setup_tab(w).corpus_box


def tokenizer_box(w):
    return setup_tab(w).tokenizer_box


def model_box(w):
    return setup_tab(w).model_box


def training_box(w):
    return setup_tab(w).training_box


def controls(w):
    """The Train tab's buttons, Peak LR field and progress bar."""
    return train_tab(w).controls


def history(w):
    return train_tab(w).history


def loss_plot(w):
    return train_tab(w).plots.loss_plot


def metric_plots(w):
    return train_tab(w).plots.metric_plots


def samples(w):
    return train_tab(w).samples


def runs_panel(w):
    return train_tab(w).runs


def status_label(w, name: str) -> str:
    """The text of a status-bar label: "state", "speed", "params" or "device"."""
    bar = w.statusBar()
    return {"state": bar.state_label, "speed": bar.speed_label, "params": bar.params_label,
            "device": bar.device_label}[name].text()


def current_tab(w):
    return w.tabs.currentWidget()


def redraw(w) -> None:
    train_tab(w).redraw(force=True)


# -- doing things -------------------------------------------------------------------------------
def start_training(w) -> bool:
    """What Start does (the button, Ctrl+Enter and the menu all call this)."""
    return train_tab(w).start_training()


def stop_training(w) -> None:
    train_tab(w).stop_training()


def toggle_pause(w) -> None:
    training(w).toggle_pause()


def is_training(w) -> bool:
    return training(w).state.is_running


def training_state(w):
    return training(w).state


def run_dir(w):
    """The folder of the run being trained, or the one opened."""
    return runs(w).current_dir


def export_metrics_csv(w, path) -> bool:
    return train_tab(w).export_metrics_csv(str(path))


def export_plot_png(w, path) -> bool:
    return train_tab(w).export_plot_png(str(path))


# -- waiting for training events ----------------------------------------------------------------
def _is(kind, **fields):
    def check(event) -> bool:
        return isinstance(event, kind) and all(getattr(event, k) == v for k, v in fields.items())
    return check


def wait_event(qtbot, w, kind, timeout: int = 60_000, **fields):
    """A blocker (use it in `with`) for the next training event of `kind` with `fields`;
    `.args[0]` is the event."""
    return qtbot.waitSignal(training(w).event_reported, timeout=timeout,
                            check_params_cb=_is(kind, **fields))


def wait_step(qtbot, w, timeout: int = 60_000):
    from gptstudio.core.train import StepEvent

    return wait_event(qtbot, w, StepEvent, timeout)


def wait_status(qtbot, w, state: str, timeout: int = 30_000):
    from gptstudio.core.train import StatusEvent

    return wait_event(qtbot, w, StatusEvent, timeout, state=state)


def wait_checkpoint(qtbot, w, timeout: int = 30_000):
    from gptstudio.core.train import CheckpointEvent

    return wait_event(qtbot, w, CheckpointEvent, timeout)


# -- more of the window's parts and requests ---------------------------------------------------
def inference(w):
    return w.session.inference


def open_corpus(w, path) -> None:
    """What Open corpus… (and a dropped text file) does."""
    session(w).open_corpus(str(path))


def open_run(w, path) -> bool:
    """What Open run… (and the recent-runs menu) does; False (and an error) if refused."""
    return session(w).open_run(str(path))


def new_run(w) -> bool:
    """What File > New run does."""
    return session(w).new_run()


def recent_runs_menu(w):
    """The File > Recent runs menu, filled as when it is about to be shown."""
    from PySide6.QtWidgets import QMenu

    menu = w.findChild(QMenu, "recentRunsMenu")
    menu.aboutToShow.emit()
    return menu


def show_history(w, h, max_steps: int) -> None:
    """Show the curves and samples of the RunHistory `h` in the Train tab, as an opened run
    of `max_steps` steps does (the tab's `run_opened` slot, without any other subscriber)."""
    from gptstudio.ui.services.run_files import OpenedRun

    tab = train_tab(w)
    show_tab(w, "train")
    opened = OpenedRun(path=runs(w).root / h.name, model_config=setup_tab(w).model_config(),
                       train_config=setup_tab(w).train_config().replace(max_steps=max_steps),
                       tokenizer=data(w).tokenizer, tokenizer_path=runs(w).root / "tokenizer",
                       corpus_spec=None, history=h, last_checkpoint_step=None, n_params=0,
                       imported=False)
    tab._on_run_opened(opened)


def show_tab(w, key: str) -> None:
    w.show_tab(key)


# -- the Attention tab -------------------------------------------------------------------------
def attention_tab(w):
    return w.tab("attention")


def attention_widget(w, name: str):
    """A part of the Attention tab by objectName: attentionPrompt, attentionGrid,
    attentionHeatmap, pinnedHeatmap, layerSelector, headSelector, nextTokenBars, tokenView,
    headStatsTable, attentionStepSlider, attentionSource, idealTaskSelector, pinButton, ..."""
    from PySide6.QtWidgets import QWidget

    found = attention_tab(w).findChild(QWidget, name)
    assert found is not None, name
    return found


def attention_shown(w):
    """The view the Attention tab draws now (None before the first)."""
    return attention_tab(w).shown


def wait_attention(qtbot, w, check, timeout: int = 30_000) -> None:
    """Wait until `check(shown)` holds for the Attention tab's view."""
    qtbot.waitUntil(lambda: attention_shown(w) is not None and check(attention_shown(w)),
                    timeout=timeout)


def export_attention_png(w, what: str, path) -> bool:
    """What File > Export attention heatmap / grid PNG… does; `what`: "heatmap" or "grid"."""
    tab = attention_tab(w)
    return (tab.export_heatmap_png if what == "heatmap" else tab.export_grid_png)(str(path))


# -- the Tokenizer tab: its helpers live in ui_fixtures_tokenizer.py (this file's budget) --------
from tests.ui_fixtures_tokenizer import *  # noqa: E402, F401, F403


# -- the Generate tab: its helpers live in ui_fixtures_generate.py (this file's budget) ---------
from tests.ui_fixtures_generate import *  # noqa: E402, F401, F403
