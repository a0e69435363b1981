"""The app's architecture: lazy imports, the tab registry, file budgets, one rule table, the
worker place, and one mapping from engine events to plot columns (live == replayed)."""

from __future__ import annotations

import ast
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QPushButton

from tests.ui_fixtures import *  # noqa: F403 - fixtures
from tests.ui_fixtures import (
    QT_WARNINGS_FAIL, controls, history, run_dir, small_setup, start_training, train_tab,
    wait_for_idle,
)

pytestmark = QT_WARNINGS_FAIL
UI = Path(__file__).resolve().parent.parent / "gptstudio" / "ui"


def _lines(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


# -- imports -----------------------------------------------------------------------------------
def test_the_history_imports_neither_qt_nor_torch_nor_the_window():
    code = ("import sys, gptstudio.ui.history; "
            "print(sorted(m for m in ('torch', 'PySide6', 'pyqtgraph', "
            "'gptstudio.ui.main_window') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"


def test_the_package_imports_lazily_but_offers_the_window_and_run_app():
    code = ("import sys, gptstudio.ui as ui; assert 'PySide6' not in sys.modules; "
            "from gptstudio.ui import MainWindow, run_app; print(MainWindow.__name__, "
            "run_app.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["MainWindow", "run_app"]


def test_nothing_imports_the_entry_module():
    root = UI.parent.parent
    importers = []
    for path in [*UI.rglob("*.py"), *(root / "scripts").glob("*.py"),
                 *(root / "benchmarks").glob("*.py"), *(root / "tests").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "gptstudio.ui.app":
                importers.append(path.relative_to(root).as_posix())
            if isinstance(node, ast.ImportFrom) and node.module == "gptstudio.ui" and any(
                    a.name == "app" for a in node.names):
                importers.append(path.relative_to(root).as_posix())
    assert importers == []


def test_file_budgets():
    assert _lines(UI / "main_window.py") <= 250
    assert _lines(UI / "session.py") <= 150
    for service in (UI / "services").glob("*.py"):
        assert _lines(service) <= 250, service.name
    root = UI.parent.parent
    files = [p for folder in ("gptstudio", "tests", "benchmarks", "scripts")
             for p in (root / folder).rglob("*.py")]
    too_long = [p.relative_to(root).as_posix() for p in files if _lines(p) > 400]
    assert too_long == []


def test_every_tab_is_a_package_listed_once_in_the_registry():
    from gptstudio.ui.tabs import TABS

    keys = [info.key for info in TABS]
    assert keys[0] == "setup" and "train" in keys and len(set(keys)) == len(keys)
    for info in TABS:
        assert (UI / "tabs" / info.key / "__init__.py").is_file()
        assert info.widget.startswith(f"gptstudio.ui.tabs.{info.key}.")


# -- the window built from the registry --------------------------------------------------------
def test_the_window_builds_its_tabs_menus_and_shortcuts_from_the_registry(window):
    from gptstudio.ui.menus import shortcut_rows
    from gptstudio.ui.tabs import TABS

    tabs = window.tabs
    assert [tabs.tabText(i) for i in range(tabs.count())] == [t.title for t in TABS]
    assert [tabs.widget(i).objectName() for i in range(tabs.count())] == \
        [t.object_name for t in TABS]
    for index, info in enumerate(TABS):  # Ctrl+1..N come from the registry
        action = window.findChild(QAction, f"showTab:{info.key}")
        assert action.shortcut().toString() == f"Ctrl+{index + 1}"
        action.trigger()
        assert tabs.currentWidget() is window.tab(info.key)
    # The Train tab's own actions are in the window's menus...
    menu_actions = [a for m in window.menuBar().actions() for a in m.menu().actions()]
    for name in ("startAction", "pauseAction", "stopAction", "saveCheckpointAction"):
        assert window.findChild(QAction, name) in menu_actions, name
    # ...and the shortcuts dialog lists every shortcut of every action, from the actions.
    rows = dict(shortcut_rows(window.findChildren(QAction)))
    assert rows["Ctrl+Enter"] == "Start training" and rows["Ctrl+P"] == "Pause / resume"
    keys = f"Ctrl+1 … Ctrl+{len(TABS)}" if len(TABS) > 2 else "Ctrl+1 / Ctrl+2"
    assert rows[keys] == " / ".join(t.title for t in TABS) + " tab"
    shortcuts = {a.shortcut().toString().replace("Return", "Enter")
                 for a in window.findChildren(QAction)
                 if not a.shortcut().isEmpty() and not a.objectName().startswith("showTab:")}
    assert shortcuts <= set(rows)


def test_the_buttons_and_the_menu_actions_follow_one_rule_table(window):
    from gptstudio.ui.services.state import ALLOWED, TrainingState

    buttons = {"start": "startButton", "pause": "pauseButton", "stop": "stopButton",
               "save_checkpoint": "saveCheckpointButton", "set_learning_rate": "applyLrButton"}
    actions = {"start": "startAction", "pause": "pauseAction", "stop": "stopAction",
               "save_checkpoint": "saveCheckpointAction"}
    tab = train_tab(window)
    for state in TrainingState:
        tab._on_state_changed(state)  # what the training service's signal does
        for what, name in buttons.items():
            assert window.findChild(QPushButton, name).isEnabled() == (state in ALLOWED[what]), \
                (state, what)
        for what, name in actions.items():
            assert window.findChild(QAction, name).isEnabled() == (state in ALLOWED[what]), \
                (state, what)
    tab._on_state_changed(TrainingState.IDLE)


# -- the worker place: one current worker, the check in one place -------------------------------
class _Collector(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.results: list = []

    @Slot(object)
    def on_result(self, value) -> None:
        self.results.append(value)


def test_a_place_relays_only_its_current_worker_and_waits_for_retired_threads(qtbot):
    from gptstudio.ui.workers import TaskWorker, WorkerPlace

    place = WorkerPlace("test")
    collector = _Collector()
    place.succeeded.connect(collector.on_result)
    release_old = threading.Event()

    def old_job(_progress, cancel):
        release_old.wait(30)  # still busy when it is replaced
        return "old"

    assert place.start(TaskWorker(old_job))
    assert place.busy
    assert place.start(TaskWorker(lambda _p, _c: "new"))  # retires the old one
    qtbot.waitUntil(lambda: collector.results == ["new"], timeout=15_000)
    assert not place.busy
    release_old.set()  # the retired worker reports "old" now: nobody may hear it
    assert place.shutdown(10_000)
    qtbot.wait(50)  # deliver anything still queued (no synchronisation depends on it)
    assert collector.results == ["new"]
    assert not place.start(TaskWorker(lambda _p, _c: "late"))  # closed places start nothing


# -- one event path: live and replayed histories are the same -----------------------------------
def test_a_live_history_equals_the_run_folder_replayed(window, qtbot):
    from gptstudio.ui.services.run_files import read_history

    small_setup(window, steps=20, eval_interval=5)
    assert start_training(window)
    wait_for_idle(qtbot, window)
    live, replayed = history(window), read_history(run_dir(window))
    assert len(live.steps) == 20 and len(live.evals) == 4
    for table in ("steps", "evals"):
        for name in getattr(live, table).names:
            np.testing.assert_array_equal(getattr(live, table).column(name),
                                          getattr(replayed, table).column(name), err_msg=name)
    # An evaluation's tokens and time are those of the step it measured.
    assert live.evals.column("tokens")[0] == live.steps.column("tokens")[4]
    assert live.samples == replayed.samples and len(live.samples) == 4
    assert controls(window).start.text() == "Resume run"


@pytest.mark.parametrize("event_kind", ["step", "eval", "sample", "other"])
def test_add_event_maps_each_kind_of_event_once(event_kind):
    from gptstudio.core.train import EvalEvent, SampleEvent, StatusEvent, StepEvent
    from gptstudio.ui.history import RunHistory

    h = RunHistory()
    h.add_event(StepEvent(step=1, loss=2.5, lr=1e-3, grad_norm=0.5, tokens_per_sec=100.0,
                          tokens_seen=64, elapsed=0.25, eta=1.0))
    event = {"step": StepEvent(step=2, loss=2.0, lr=1e-3, grad_norm=0.4, tokens_per_sec=90.0,
                               tokens_seen=128, elapsed=0.5, eta=0.5),
             "eval": EvalEvent(step=1, train_loss=2.4, val_loss=2.6, train_ppl=11.0,
                               val_ppl=13.5, train_bpb=3.4, val_bpb=3.7),
             "sample": SampleEvent(step=1, prompt="The ", text="fox"),
             "other": StatusEvent("running", "go", 1)}[event_kind]
    h.add_event(event)
    assert len(h.steps) == (2 if event_kind == "step" else 1)
    if event_kind == "step":
        assert h.steps.last("tokens") == 128 and h.steps.last("tokens_per_s") == 90.0
    assert len(h.evals) == (1 if event_kind == "eval" else 0)
    if event_kind == "eval":
        assert (h.evals.last("tokens"), h.evals.last("elapsed")) == (64, 0.25)
        assert h.evals.last("val_bpb") == 3.7
    assert h.samples == ([(1, "The fox")] if event_kind == "sample" else [])


def test_a_refused_input_is_logged_without_a_traceback_an_unexpected_error_with_one(
        qtbot, caplog):
    import logging

    from gptstudio.core.errors import CorpusError
    from gptstudio.ui.workers import TaskWorker, WorkerPlace

    place = WorkerPlace("test")
    failures = _Collector()
    place.failed.connect(failures.on_result)
    caplog.set_level(logging.INFO, logger="gptstudio.ui.workers.base")

    def refused(_p, _c):
        raise CorpusError("The corpus x.txt is empty.")

    def broken(_p, _c):
        raise KeyError("boom")

    for job in (refused, broken):
        place.start(TaskWorker(job))
        qtbot.waitUntil(lambda: not place.busy, timeout=15_000)
    assert place.shutdown(10_000)
    assert failures.results[0] == "The corpus x.txt is empty."
    refused_logs = [r for r in caplog.records if "empty" in r.getMessage()]
    broken_logs = [r for r in caplog.records if "KeyError" in r.getMessage()]
    assert refused_logs and all(r.levelno == logging.INFO and "Traceback" not in r.getMessage()
                                for r in refused_logs)
    assert broken_logs and broken_logs[0].levelno == logging.ERROR
    assert "Traceback" in broken_logs[0].getMessage()
