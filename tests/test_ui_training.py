"""Driving the real window through training: start, live plot, pause/resume/stop, reopen, close.

Runs are tiny (nano preset, batch 4, a few dozen steps) and every wait is on a signal or a
condition, never a sleep.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox, QPushButton

from tests.ui_fixtures import *  # noqa: F403 - fixtures
from tests.ui_fixtures import (QT_WARNINGS_FAIL, current_tab, data, history, is_training,
                               loss_plot, model_box, open_corpus, open_run, redraw, run_dir,
                               runs, samples, session, small_setup, start_training,
                               status_label, stop_training, toggle_pause, train_tab,
                               training_box, wait_checkpoint, wait_for_idle, wait_status,
                               wait_step)

pytestmark = QT_WARNINGS_FAIL


def _click(qtbot, window, name: str) -> None:
    button = window.findChild(QPushButton, name)
    assert button.isEnabled(), f"{name} is disabled: {_start_blocked_reason(window)}"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _start_blocked_reason(window) -> str:
    return window.findChild(QLabel, "startBlockedReason").text()


def _checkpoints(run: Path) -> list[int]:
    return sorted(int(p.name.split("-")[1]) for p in (run / "checkpoints").glob("step-*"))


def test_start_trains_and_the_loss_plot_fills(window, qtbot):
    small_setup(window, steps=30, eval_interval=10)
    with wait_step(qtbot, window):
        _click(qtbot, window, "startButton")
    assert current_tab(window) is train_tab(window)
    assert status_label(window, "state") in ("Training", "Preparing…")
    wait_for_idle(qtbot, window)
    redraw(window)
    plot = loss_plot(window)
    assert plot.points() == 30  # every step is a point of the train curve
    curves = history(window)
    assert list(curves.evals.column("step")) == [10, 20, 30]
    assert np.isfinite(curves.evals.column("val_loss")).all()
    assert curves.steps.column("loss")[-1] < curves.steps.column("loss")[0]  # it learns
    assert samples(window).list.count() == 3  # a sample at each evaluation
    assert samples(window).list.item(0).text().startswith("step 30:")
    assert status_label(window, "state") == "Idle"
    assert window.last_error is None
    run = run_dir(window)
    assert (run / "metrics.jsonl").is_file() and 30 in _checkpoints(run)
    # The finished run can be continued: Start now resumes it.
    assert window.findChild(QPushButton, "startButton").text() == "Resume run"
    assert window.findChild(QPushButton, "newRunButton").isVisible()


def test_pause_resume_and_stop(window, qtbot):
    small_setup(window, steps=5000, eval_interval=1000)
    with wait_step(qtbot, window):
        _click(qtbot, window, "startButton")
    with wait_status(qtbot, window, "paused") as paused:
        _click(qtbot, window, "pauseButton")
    assert status_label(window, "state") == "Paused"
    assert window.findChild(QPushButton, "pauseButton").text() == "Resume"
    paused_at = paused.args[0].step
    qtbot.waitUntil(lambda: history(window).steps.last("step") == paused_at, timeout=15_000)
    with wait_step(qtbot, window, timeout=30_000) as resumed:
        _click(qtbot, window, "pauseButton")  # now labelled Resume
    assert resumed.args[0].step == paused_at + 1  # training went on from where it paused
    assert status_label(window, "state") == "Training"
    _click(qtbot, window, "stopButton")
    wait_for_idle(qtbot, window)
    last = int(history(window).steps.last("step"))
    assert last < 5000
    assert _checkpoints(run_dir(window))[-1] == last  # Stop saves a final checkpoint


def test_save_checkpoint_on_demand_while_paused(window, qtbot):
    small_setup(window, steps=5000, eval_interval=1000)
    training_box(window).set_field("checkpoint_interval", "0")
    with wait_step(qtbot, window):
        start_training(window)
    with wait_status(qtbot, window, "paused"):
        toggle_pause(window)
    step = int(history(window).steps.last("step"))
    with wait_checkpoint(qtbot, window) as saved:
        window.findChild(QPushButton, "saveCheckpointButton").click()
    assert saved.args[0].step == step
    # A new run saves its starting point (step 0), then only the checkpoint asked for.
    assert _checkpoints(run_dir(window)) == [0, step]
    window.close()  # closing while paused: asks, saves and stops cleanly


def test_open_run_restores_the_curve_and_resumes(make_window, qtbot):
    first = make_window()
    small_setup(first, steps=20, eval_interval=10)
    start_training(first)
    wait_for_idle(qtbot, first)
    run = run_dir(first)
    losses = history(first).steps.column("loss").copy()
    first.close()

    second = make_window()
    assert loss_plot(second).points() == 0
    with qtbot.waitSignal(runs(second).run_opened):
        assert open_run(second, run)
    redraw(second)
    restored = history(second)
    assert loss_plot(second).points() == 20
    np.testing.assert_allclose(restored.steps.column("loss"), losses)
    assert samples(second).list.count() == 2
    assert model_box(second).preset_name() == "nano"
    assert second.findChild(QPushButton, "startButton").text() == "Resume run"
    # Resume for 10 more steps from the checkpoint at step 20.
    training_box(second).set_field("max_steps", "30")
    with wait_step(qtbot, second) as first_step:
        assert start_training(second)
    assert first_step.args[0].step == 21
    wait_for_idle(qtbot, second)
    steps = history(second).steps.column("step")
    assert list(steps) == list(range(1, 31))
    assert run_dir(second) == run
    assert _checkpoints(run)[-1] == 30


@pytest.mark.parametrize("paused", [False, True], ids=["training", "paused"])
@pytest.mark.parametrize("answer", ["save", "discard"])
def test_closing_while_training_asks_then_stops_cleanly(make_window, qtbot, close_answer,
                                                        answer, paused):
    window = make_window()
    small_setup(window, steps=5000, eval_interval=1000)
    training_box(window).set_field("checkpoint_interval", "0")
    with wait_step(qtbot, window):
        start_training(window)
    if paused:
        with wait_status(qtbot, window, "paused"):
            toggle_pause(window)
    run = run_dir(window)
    close_answer["answer"] = answer
    assert window.close()
    assert close_answer["asked"] == 1
    assert not is_training(window)  # the worker thread has ended (see the fixture)
    saved = _checkpoints(run)
    assert saved[0] == 0  # a new run saves its starting point before its first step
    # Save: a final checkpoint of the last step; discard: none beyond the starting point.
    assert (len(saved) == 2 and saved[1] > 0) if answer == "save" else saved == [0]


def test_cancelling_the_close_keeps_training(window, qtbot, close_answer):
    small_setup(window, steps=5000, eval_interval=1000)
    with wait_step(qtbot, window):
        start_training(window)
    close_answer["answer"] = "cancel"
    assert not window.close()
    assert window.isVisible() and is_training(window)
    with wait_step(qtbot, window, timeout=30_000):
        pass  # still training
    stop_training(window)
    wait_for_idle(qtbot, window)


def test_an_invalid_config_is_shown_beside_the_field_and_blocks_start(window, qtbot):
    model = model_box(window)
    model.gpt_fields["n_head"].setValue(3)  # 128 is not divisible by 3
    error = model.gpt_form.errors["n_head"]
    assert error.isVisible() and "divisible" in error.text()
    start = window.findChild(QPushButton, "startButton")
    assert not start.isEnabled()
    assert "divisible" in _start_blocked_reason(window)
    assert not start_training(window)
    assert "divisible" in window.last_error[1]
    model.gpt_fields["n_head"].setValue(4)
    assert start.isEnabled() and not error.isVisible()

    training = training_box(window)
    training.set_field("learning_rate", "fast")
    assert "number" in training.form.errors["learning_rate"].text()
    assert not start.isEnabled()
    training.set_field("learning_rate", "-1")
    assert "above 0" in training.form.errors["learning_rate"].text()
    training.set_field("learning_rate", "0.001")
    assert start.isEnabled()


def test_a_model_too_big_for_memory_is_refused(window):
    model_box(window).set_preset("gpt2-xl")
    training_box(window).set_field("batch_size", "512")
    refusal = model_box(window).refusal
    assert refusal.isVisible() and "memory" in refusal.text()
    assert not window.findChild(QPushButton, "startButton").isEnabled()


def test_an_error_in_the_worker_is_shown_and_the_app_keeps_working(window, qtbot, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("A very short text.\n", encoding="utf-8")  # fewer tokens than one window
    with qtbot.waitSignal(data(window).corpus_changed, timeout=10_000):
        open_corpus(window, short)
    small_setup(window, steps=10)
    with qtbot.waitSignal(session(window).error_raised, timeout=60_000) as raised:
        start_training(window)
    title, message = raised.args
    assert title == "Training stopped" and "tokens" in message
    box = window.findChild(QMessageBox, "errorDialog")
    assert box is not None and box.isVisible() and "tokens" in box.text()
    box.close()
    wait_for_idle(qtbot, window)
    assert status_label(window, "state") == "Idle"
    assert not run_dir(window).exists()  # the run that never trained left no folder
    # The app keeps working: back to the fables, and training runs.
    data(window).load_corpus("builtin:fables", background=False)
    small_setup(window, steps=3, eval_interval=3)
    start_training(window)
    wait_for_idle(qtbot, window)
    redraw(window)
    assert loss_plot(window).points() == 3
