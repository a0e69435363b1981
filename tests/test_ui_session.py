"""The Session's services for the next tabs, the workers helper, exports, runs and menus."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from PySide6.QtCore import QObject, Slot
from PySide6.QtGui import QAction

from tests.ui_fixtures import *  # noqa: F403 - fixtures
from tests.ui_fixtures import (QT_WARNINGS_FAIL, current_tab, export_metrics_csv,
                               export_plot_png, inference, loss_plot, new_run, open_run,
                               recent_runs_menu, redraw, run_dir, runs, runs_panel, setup_tab,
                               small_setup, start_training, stop_training, training,
                               wait_for_idle, wait_step)

pytestmark = QT_WARNINGS_FAIL


# -- workers ---------------------------------------------------------------------------------------
class _Receiver(QObject):
    """Collects a worker's results in the GUI thread (slots, never lambdas: PITFALLS)."""

    def __init__(self) -> None:
        super().__init__()
        self.results: list = []

    @Slot(object)
    def on_result(self, value) -> None:
        self.results.append(value)

    @Slot(str)
    def on_failed(self, message: str) -> None:
        self.results.append(("failed", message))

    @Slot()
    def on_cancelled(self) -> None:
        self.results.append("cancelled")


def _run_task(qtbot, fn):
    from gptstudio.ui.workers import TaskWorker, start_worker

    receiver = _Receiver()
    worker = TaskWorker(fn)
    worker.succeeded.connect(receiver.on_result)
    worker.failed.connect(receiver.on_failed)
    worker.cancelled.connect(receiver.on_cancelled)
    worker.progressed.connect(receiver.on_result)
    # Not qtbot.waitSignal(worker.finished): its slot would run in the worker's thread.
    handle = start_worker(worker, "test-task")
    assert handle.thread.wait(10_000)
    qtbot.waitUntil(lambda: bool(receiver.results), timeout=15_000)
    # Return the receiver itself: if it were garbage-collected, Qt would drop the events
    # still queued for it.
    return receiver, handle


def test_a_task_reports_progress_then_its_result_in_the_gui_thread(qtbot):
    def job(progress, cancel):
        progress(1)
        progress(2)
        return threading.current_thread().name

    receiver, _ = _run_task(qtbot, job)
    results = receiver.results
    qtbot.waitUntil(lambda: len(results) == 3, timeout=15_000)
    assert results[:2] == [1, 2]
    assert results[2] != threading.main_thread().name  # the work ran elsewhere


def test_a_failing_task_reports_a_readable_message(qtbot):
    from gptstudio.core.errors import CorpusError

    def job(progress, cancel):
        raise CorpusError("The corpus 'x' is empty.")

    receiver, _ = _run_task(qtbot, job)
    assert receiver.results == [("failed", "The corpus 'x' is empty.")]


def test_an_unexpected_exception_is_named_not_swallowed(qtbot):
    def job(progress, cancel):
        raise KeyError("boom")

    receiver, _ = _run_task(qtbot, job)
    assert receiver.results[0][0] == "failed" and "KeyError" in receiver.results[0][1]


def test_a_stopped_task_reports_cancelled(qtbot):
    from gptstudio.core.errors import Cancelled
    from gptstudio.ui.workers import TaskWorker, running_workers, start_worker

    started = threading.Event()

    def job(progress, cancel):
        started.set()
        cancel.wait(30)
        raise Cancelled("stopped")

    receiver = _Receiver()
    worker = TaskWorker(job)
    worker.cancelled.connect(receiver.on_cancelled)
    handle = start_worker(worker, "blocking-task")
    assert started.wait(10)
    assert handle in running_workers()
    assert handle.stop(10_000)
    assert handle not in running_workers()
    qtbot.waitUntil(lambda: receiver.results == ["cancelled"], timeout=15_000)


def test_out_of_memory_gets_a_message_a_person_can_act_on():
    from gptstudio.ui.workers import describe_error

    assert "smaller model" in describe_error(MemoryError())
    assert "smaller model" in describe_error(RuntimeError("CUDA out of memory. Tried ..."))


# -- what the next tabs need from a running training ---------------------------------------------
def test_attention_snapshots_and_weight_copies_come_from_the_training_thread(window, qtbot):
    training(window).watch_attention("The fox", 5)  # before Start: kept for the next run
    small_setup(window, steps=2000, eval_interval=1000)
    with qtbot.waitSignal(inference(window).attention_ready, timeout=60_000) as attention:
        start_training(window)
    snap = attention.args[0]
    cfg = setup_tab(window).model_config()
    assert snap.step % 5 == 0 and snap.tokens == tuple("The fox")
    assert len(snap.weights) == cfg.n_layer
    assert snap.weights[0].shape == (cfg.n_head, 7, 7) and snap.weights[0].dtype == np.float32
    np.testing.assert_allclose(snap.weights[0].sum(-1), 1.0, rtol=1e-4)  # rows are softmaxes
    assert np.allclose(np.triu(snap.weights[0], 1), 0.0)  # causal: nothing from the future

    with qtbot.waitSignal(inference(window).weights_ready, timeout=30_000) as weights:
        assert training(window).request_weights()
    copy = weights.args[0]
    assert inference(window).latest_weights is copy
    model = copy.to_model()  # an independent model to generate from while training goes on
    first = {k: v.copy() for k, v in copy.state.items()}
    with wait_step(qtbot, window, timeout=30_000):
        pass
    for name, value in copy.state.items():  # the copy does not move with the training
        np.testing.assert_array_equal(value, first[name])
    with torch.no_grad():
        logits = model(torch.tensor([[1, 2, 3]])).logits
    assert logits.shape[-1] == cfg.vocab_size
    stop_training(window)
    wait_for_idle(qtbot, window)


# -- runs, exports and menus ---------------------------------------------------------------------
@pytest.fixture
def trained(window, qtbot):
    small_setup(window, steps=12, eval_interval=6)
    start_training(window)
    wait_for_idle(qtbot, window)
    redraw(window)
    return window


def test_metrics_export_to_csv(trained, tmp_path):
    out = tmp_path / "metrics.csv"
    assert export_metrics_csv(trained, out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 13 and lines[0].startswith("step,")


def test_plot_export_to_png(trained, tmp_path):
    out = tmp_path / "loss.png"
    assert export_plot_png(trained, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_earlier_run_can_be_overlaid_from_the_run_list(trained, qtbot):
    first_run = run_dir(trained)
    assert new_run(trained)
    assert current_tab(trained) is setup_tab(trained)
    loss_plot(trained).refresh()
    assert loss_plot(trained).points() == 0  # a new run starts with empty plots
    start_training(trained)
    wait_for_idle(qtbot, trained)
    panel = runs_panel(trained)
    assert [panel.list.item(i).text() for i in range(panel.list.count())] == [first_run.name]
    panel.set_ticked(first_run, True)
    assert loss_plot(trained).overlay_names() == [first_run.name]
    panel.set_ticked(first_run, False)
    assert loss_plot(trained).overlay_names() == []


def test_recent_runs_menu_lists_the_runs_and_opens_them(trained, qtbot):
    run = run_dir(trained)
    assert new_run(trained)
    actions = [a for a in recent_runs_menu(trained).actions() if a.data()]
    assert [a.data() for a in actions] == [str(run)]
    with qtbot.waitSignal(runs(trained).run_opened):
        actions[0].trigger()
    redraw(trained)
    assert loss_plot(trained).points() == 12


def test_opening_a_folder_that_is_not_a_run_explains_why(window, tmp_path):
    assert not open_run(window, tmp_path)
    assert window.last_error[0] == "Cannot open the run"
    assert "run.json" in window.last_error[1]


def test_shortcuts_dialog_lists_the_start_shortcut(window):
    from PySide6.QtWidgets import QMessageBox

    window.show_shortcuts()
    box = window.findChild(QMessageBox, "shortcutsDialog")
    # The rows are made from the actions: keys in Qt's words, then the action's name.
    assert "<b>Ctrl+Enter</b>&nbsp;&nbsp;</td><td>Start training</td>" in box.text()
    box.close()
    start = window.findChild(QAction, "startAction")
    assert start.shortcut().toString() == "Ctrl+Return"
