"""The app and a run folder it did not make: opened from anywhere it is ready to resume; a
damaged newest checkpoint is reported when it resumes; a run another process trains is refused
with that process named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QPushButton

from gptstudio.cli import main
from gptstudio.core.train import Run
from gptstudio.core.train.events import WarningEvent
from tests.ui_fixtures import *  # noqa: F403 - fixtures
from tests.ui_fixtures import (QT_WARNINGS_FAIL, open_run, runs, session, setup_tab,
                               start_training,
                               training, training_box, wait_event, wait_for_idle)

pytestmark = QT_WARNINGS_FAIL

SMALL = ["--preset", "nano", "--set", "n_layer=1", "--set", "n_embd=16", "--set", "n_head=2",
         "--set", "block_size=16", "--set", "batch_size=2", "--set", "eval_iters=1",
         "--set", "eval_interval=2", "--set", "checkpoint_interval=2", "--set", "sample_interval=0",
         "--set", "warmup_steps=1", "--set", "compile=off"]


@pytest.fixture
def made_elsewhere(tmp_path: Path, monkeypatch) -> Path:
    """A run trained from its own folder with a relative corpus path; the test then works
    from another folder."""
    made = tmp_path / "made"
    made.mkdir()
    (made / "c.txt").write_text("the cat sat on the mat. the dog sat on the log.\n" * 40,
                                encoding="utf-8")
    monkeypatch.chdir(made)
    assert main(["train", "--corpus", "c.txt", "--tokenizer", "char", *SMALL,
                 "--run-dir", "r", "--quiet", "--max-steps", "4"]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return made / "r"


def open_ready(qtbot, w, run: Path) -> None:
    with qtbot.waitSignal(runs(w).run_opened):
        assert open_run(w, run)
    qtbot.waitUntil(lambda: not setup_tab(w).problems(), timeout=30_000)
    assert w.findChild(QPushButton, "startButton").text() == "Resume run"


def test_a_run_made_in_another_folder_opens_ready_to_resume(window, qtbot, made_elsewhere):
    open_ready(qtbot, window, made_elsewhere)
    assert training(window).plan.problems == ()


def test_resuming_past_a_damaged_checkpoint_says_so(window, qtbot, made_elsewhere):
    newest = Run.open(made_elsewhere).latest_checkpoint()
    (newest.path / "model.safetensors").write_bytes(b"\x00" * 40)
    said: list[str] = []
    session(window).status_message.connect(said.append)
    open_ready(qtbot, window, made_elsewhere)
    # Said at once, on opening (headers only, no weights read) ...
    assert any(f"The newest checkpoint is damaged ({newest.path.name}: model.safetensors is "
               "truncated or overwritten), so resuming or sampling uses step-00000002" in m
               for m in said), said
    training_box(window).set_field("max_steps", "6")
    messages: list[str] = []
    training(window).status_message.connect(messages.append)
    with wait_event(qtbot, window, WarningEvent) as warned:
        assert start_training(window)
    assert f"({newest.path.name}:" in warned.args[0].message
    wait_for_idle(qtbot, window)  # ... and again when it resumes from step 2
    assert any("so step 2 was loaded" in m for m in messages)
    assert Run.open(made_elsewhere).latest_checkpoint().step == 6


def test_a_run_another_process_trains_is_refused_with_it_named(window, qtbot, made_elsewhere):
    hold = ("import sys; from gptstudio.core.train.run_lock import RunLock\n"
            "with RunLock(sys.argv[1]): print('held', flush=True); sys.stdin.read()")
    child = subprocess.Popen([sys.executable, "-c", hold, str(made_elsewhere)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        open_ready(qtbot, window, made_elsewhere)
        training_box(window).set_field("max_steps", "6")
        with qtbot.waitSignal(training(window).error_raised) as refused:
            start_training(window)
        wait_for_idle(qtbot, window)
        assert f"another process (pid {child.pid}" in refused.args[1]
    finally:
        child.stdin.close()
        child.wait()
    assert Run.open(made_elsewhere).latest_checkpoint().step == 4
