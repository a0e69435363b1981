"""Driving the real window through training: start, live plot, pause/resume/stop, reopen, close.

Runs are tiny (nano preset, batch 4, a few dozen steps) and every wait is on a signal or a
condition, never a sleep.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton

from tests.ui_fixtures import *  # noqa: F403 - fixtures
from tests.ui_fixtures import QT_WARNINGS_FAIL, small_setup, wait_for_idle

pytestmark = QT_WARNINGS_FAIL


def _click(qtbot, window, name: str) -> None:
    button = window.findChild(QPushButton, name)
    assert button.isEnabled(), f"{name} is disabled: {window.train_tab.reason.text()}"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _checkpoints(run: Path) -> list[int]:
    return sorted(int(p.name.split("-")[1]) for p in (run / "checkpoints").glob("step-*"))


def test_start_trains_and_the_loss_plot_fills(window, qtbot):
    small_setup(window, steps=30, eval_interval=10)
    with qtbot.waitSignal(window.session.step_finished, timeout=60_000):
        _click(qtbot, window, "startButton")
    assert window.tabs.currentWidget() is window.train_tab
    assert window.state_label.text() in ("Training", "Preparing…")
    wait_for_idle(qtbot, window)
    window.train_tab.redraw(force=True)
    plot = window.train_tab.loss_plot
    assert plot.points() == 30  # every step is a point of the train curve
    history = window.train_tab.history
    assert list(history.evals.column("step")) == [10, 20, 30]
    assert np.isfinite(history.evals.column("val_loss")).all()
    assert history.steps.column("loss")[-1] < history.steps.column("loss")[0]  # it learns
    assert window.train_tab.samples.list.count() == 3  # a sample at each evaluation
    assert window.train_tab.samples.list.item(0).text().startswith("step 30:")
    assert window.state_label.text() == "Idle"
    assert window.last_error is None
    run = window.session.run_dir
    assert (run / "metrics.jsonl").is_file() and 30 in _checkpoints(run)
    # The finished run can be continued: Start now resumes it.
    assert window.train_tab.start.text() == "Resume run"
    assert window.findChild(QPushButton, "newRunButton").isVisible()


def test_pause_resume_and_stop(window, qtbot):
    small_setup(window, steps=5000, eval_interval=1000)
    session = window.session
    with qtbot.waitSignal(session.step_finished, timeout=60_000):
        _click(qtbot, window, "startButton")
    with qtbot.waitSignal(session.status_changed, timeout=30_000,
                          check_params_cb=lambda m: m.startswith("Paused")) as paused:
        _click(qtbot, window, "pauseButton")
    assert window.state_label.text() == "Paused"
    assert window.findChild(QPushButton, "pauseButton").text() == "Resume"
    paused_at = int(paused.args[0].split("step ")[1].rstrip("."))
    qtbot.waitUntil(lambda: window.train_tab.history.steps.last("step") == paused_at,
                    timeout=15_000)
    with qtbot.waitSignal(session.step_finished, timeout=30_000) as resumed:
        _click(qtbot, window, "pauseButton")  # now labelled Resume
    assert resumed.args[0].step == paused_at + 1  # training went on from where it paused
    assert window.state_label.text() == "Training"
    _click(qtbot, window, "stopButton")
    wait_for_idle(qtbot, window)
    last = int(window.train_tab.history.steps.last("step"))
    assert last < 5000
    assert _checkpoints(session.run_dir)[-1] == last  # Stop saves a final checkpoint


def test_save_checkpoint_on_demand_while_paused(window, qtbot):
    small_setup(window, steps=5000, eval_interval=1000)
    window.setup_tab.training_box.set_field("checkpoint_interval", "0")
    session = window.session
    with qtbot.waitSignal(session.step_finished, timeout=60_000):
        window.start_training()
    with qtbot.waitSignal(session.status_changed, timeout=30_000,
                          check_params_cb=lambda m: m.startswith("Paused")):
        window.toggle_pause()
    step = int(window.train_tab.history.steps.last("step"))
    with qtbot.waitSignal(session.checkpoint_saved, timeout=30_000) as saved:
        window.findChild(QPushButton, "saveCheckpointButton").click()
    assert saved.args[0].step == step
    assert _checkpoints(session.run_dir) == [step]
    window.close()  # closing while paused: asks, saves and stops cleanly


def test_open_run_restores_the_curve_and_resumes(make_window, qtbot):
    first = make_window()
    small_setup(first, steps=20, eval_interval=10)
    first.start_training()
    wait_for_idle(qtbot, first)
    run = first.session.run_dir
    losses = first.train_tab.history.steps.column("loss").copy()
    first.close()

    second = make_window()
    assert second.train_tab.loss_plot.points() == 0
    with qtbot.waitSignal(second.session.run_opened):
        assert second.open_run(str(run))
    second.train_tab.redraw(force=True)
    restored = second.train_tab.history
    assert second.train_tab.loss_plot.points() == 20
    np.testing.assert_allclose(restored.steps.column("loss"), losses)
    assert second.train_tab.samples.list.count() == 2
    assert second.setup_tab.model_box.preset_name() == "nano"
    assert second.train_tab.start.text() == "Resume run"
    # Resume for 10 more steps from the checkpoint at step 20.
    second.setup_tab.training_box.set_field("max_steps", "30")
    with qtbot.waitSignal(second.session.step_finished, timeout=60_000) as first_step:
        assert second.start_training()
    assert first_step.args[0].step == 21
    wait_for_idle(qtbot, second)
    steps = second.train_tab.history.steps.column("step")
    assert list(steps) == list(range(1, 31))
    assert second.session.run_dir == run
    assert _checkpoints(run)[-1] == 30


@pytest.mark.parametrize("answer", ["save", "discard"])
def test_closing_while_training_asks_then_stops_cleanly(make_window, qtbot, close_answer,
                                                        answer):
    window = make_window()
    small_setup(window, steps=5000, eval_interval=1000)
    window.setup_tab.training_box.set_field("checkpoint_interval", "0")
    with qtbot.waitSignal(window.session.step_finished, timeout=60_000):
        window.start_training()
    run = window.session.run_dir
    close_answer["answer"] = answer
    assert window.close()
    assert close_answer["asked"] == 1
    assert not window.session.is_training  # the worker thread has ended (see the fixture)
    assert bool(_checkpoints(run)) == (answer == "save")


def test_cancelling_the_close_keeps_training(window, qtbot, close_answer):
    small_setup(window, steps=5000, eval_interval=1000)
    with qtbot.waitSignal(window.session.step_finished, timeout=60_000):
        window.start_training()
    close_answer["answer"] = "cancel"
    assert not window.close()
    assert window.isVisible() and window.session.is_training
    with qtbot.waitSignal(window.session.step_finished, timeout=30_000):
        pass  # still training
    window.stop_training()
    wait_for_idle(qtbot, window)


def test_an_invalid_config_is_shown_beside_the_field_and_blocks_start(window, qtbot):
    model = window.setup_tab.model_box
    model.gpt_fields["n_head"].setValue(3)  # 128 is not divisible by 3
    error = model.gpt_form.errors["n_head"]
    assert error.isVisible() and "divisible" in error.text()
    start = window.findChild(QPushButton, "startButton")
    assert not start.isEnabled()
    assert "divisible" in window.train_tab.reason.text()
    assert not window.start_training()
    assert "divisible" in window.last_error[1]
    model.gpt_fields["n_head"].setValue(4)
    assert start.isEnabled() and not error.isVisible()

    training = window.setup_tab.training_box
    training.set_field("learning_rate", "fast")
    assert "number" in training.form.errors["learning_rate"].text()
    assert not start.isEnabled()
    training.set_field("learning_rate", "-1")
    assert "above 0" in training.form.errors["learning_rate"].text()
    training.set_field("learning_rate", "0.001")
    assert start.isEnabled()


def test_a_model_too_big_for_memory_is_refused(window):
    window.setup_tab.model_box.set_preset("gpt2-xl")
    window.setup_tab.training_box.set_field("batch_size", "512")
    refusal = window.setup_tab.model_box.refusal
    assert refusal.isVisible() and "memory" in refusal.text()
    assert not window.findChild(QPushButton, "startButton").isEnabled()


def test_an_error_in_the_worker_is_shown_and_the_app_keeps_working(window, qtbot, tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("A very short text.\n", encoding="utf-8")  # fewer tokens than one window
    with qtbot.waitSignal(window.session.corpus_changed, timeout=10_000):
        window.open_corpus(str(short))
    small_setup(window, steps=10)
    with qtbot.waitSignal(window.session.error_raised, timeout=60_000) as raised:
        window.start_training()
    title, message = raised.args
    assert title == "Training stopped" and "tokens" in message
    box = window.findChild(QMessageBox, "errorDialog")
    assert box is not None and box.isVisible() and "tokens" in box.text()
    box.close()
    wait_for_idle(qtbot, window)
    assert window.state_label.text() == "Idle"
    assert not window.session.run_dir.exists()  # the run that never trained left no folder
    # The app keeps working: back to the fables, and training runs.
    window.session.load_corpus("builtin:fables", background=False)
    small_setup(window, steps=3, eval_interval=3)
    window.start_training()
    wait_for_idle(qtbot, window)
    window.train_tab.redraw(force=True)
    assert window.train_tab.loss_plot.points() == 3
