"""Start on a stopped fine-tune resumes it, exactly: the Train tab's Start right after a stop in
the Fine-tune tab, then the Fine-tune tab's Start in another window after File/open. The step
numbers continue in the same run folder, and the weights and losses at the end equal those of
a headless resume (`prepare_resumed_training`) of a copy taken at the first stop."""

from __future__ import annotations

import shutil

import pytest
import torch
from PySide6.QtCore import Qt

from gptstudio.core.finetune import load_finetuned
from gptstudio.core.pipeline import prepare_resumed_training
from gptstudio.core.train import Run, StatusEvent, StepEvent, read_metrics
from gptstudio.ui.services.state import IDLE, PAUSED
from tests.finetune_runs import base_run, separable_tsv
from tests.ui_fixtures import *  # noqa: F401, F403
from tests.ui_fixtures import QT_WARNINGS_FAIL, controls, open_run, runs, start_training, \
    training, wait_step
from tests.ui_fixtures_finetune import *  # noqa: F401, F403

pytestmark = QT_WARNINGS_FAIL


@pytest.fixture
def base(ui_env):
    return base_run(ui_env / "base")


def finished(event) -> bool:
    return isinstance(event, StatusEvent) and event.state in ("finished", "stopped", "failed")


def pause_then_stop(qtbot, w) -> int:
    """Pause the fine-tune that has just taken a step, stop it (saving), wait for idle; the
    step of the checkpoint the stop saved."""
    training(w).pause()
    qtbot.waitUntil(lambda: training(w).state is PAUSED, timeout=30_000)
    with qtbot.waitSignal(training(w).event_reported, timeout=60_000, check_params_cb=finished):
        qtbot.mouseClick(finetune_widget(w, "finetuneStopButton"), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: training(w).state is IDLE, timeout=30_000)
    return Run.open(w.tab("finetune").run_dir).latest_checkpoint().step


def step_losses(run_dir) -> dict[int, float]:
    return {e.step: e.loss for e in read_metrics(Run.open(run_dir).metrics_path)
            if isinstance(e, StepEvent)}


def test_a_stopped_fine_tune_resumes_exactly_from_either_start(qtbot, make_window, base,
                                                              tmp_path):
    tsv = separable_tsv(tmp_path / "words.tsv", n=40)
    w = make_window()
    tab = finetune_tab(w)
    options = finetune_options(w)
    options.lr.setText("3e-3")
    options.batch.setValue(4)
    options.epochs.setValue(8.0)
    with wait_preview(qtbot, w):
        choose_finetune_data(w, tsv)
    start = finetune_widget(w, "finetuneStartButton")
    with wait_step(qtbot, w):
        qtbot.mouseClick(start, Qt.MouseButton.LeftButton)
    run_dir = tab.run_dir
    max_steps = Run.open(run_dir).train_config.max_steps
    first_stop = pause_then_stop(qtbot, w)
    assert 0 < first_stop < max_steps
    headless = shutil.copytree(run_dir, tmp_path / "headless")  # the run as the stop left it

    # The stopped fine-tune is the current run: both Starts say they resume it.
    assert runs(w).opened is not None and runs(w).opened.can_resume
    assert "Resume" in start.text() and start.isEnabled()
    assert controls(w).start.text() == "Resume run"
    with qtbot.waitSignal(training(w).run_started, timeout=60_000) as started, \
            wait_step(qtbot, w) as first_step:
        assert start_training(w)  # the Train tab's Start
    info = started.args[0]
    assert (info.path, info.resumed, info.start_step, info.task) == \
        (run_dir, True, first_stop, "classification")
    assert first_step.args[0].step == first_stop + 1
    second_stop = pause_then_stop(qtbot, w)
    assert first_stop < second_stop < max_steps
    w.close()

    # Another window: File/open, then the Fine-tune tab's Start goes on to the end.
    w2 = make_window()
    tab2 = finetune_tab(w2)
    assert open_run(w2, run_dir)
    start2 = finetune_widget(w2, "finetuneStartButton")
    assert tab2.run_dir == run_dir and "Resume" in start2.text() and start2.isEnabled()
    with qtbot.waitSignal(training(w2).run_started, timeout=60_000) as started:
        qtbot.mouseClick(start2, Qt.MouseButton.LeftButton)
    assert (started.args[0].resumed, started.args[0].start_step) == (True, second_stop)
    qtbot.waitUntil(lambda: training(w2).state is IDLE, timeout=120_000)
    assert Run.open(run_dir).latest_checkpoint().step == max_steps
    shown = list(tab2.history.steps.column("step"))
    assert shown == list(range(1, max_steps + 1))  # the curve goes on, no step twice

    # The oracle: the same run resumed headless from the first stop.
    for _ in prepare_resumed_training(headless).trainer.events():
        pass
    app, cli = step_losses(run_dir), step_losses(headless)
    assert sorted(app) == sorted(cli) == list(range(1, max_steps + 1))
    assert app == cli
    app_model, cli_model = load_finetuned(run_dir)[1], load_finetuned(headless)[1]
    for (name, a), (_, b) in zip(app_model.state_dict().items(),
                                 cli_model.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_a_fine_tune_without_a_checkpoint_starts_over_in_its_folder(qtbot, make_window, base,
                                                                    tmp_path):
    """A fine-tune whose process ended before its first checkpoint: Start trains it again from
    step 0 in the same folder, as it was made (the oracle: the same fine-tune made headless)."""
    from gptstudio.core.finetune import FinetuneSpec
    from gptstudio.core.pipeline import prepare_finetune
    from tests.finetune_runs import quick_config

    tsv = separable_tsv(tmp_path / "words.tsv", n=40)
    spec, config = FinetuneSpec("classification", str(tsv), train_last=1), quick_config()
    run_dir = base.parent / "never-checkpointed"
    prepared = prepare_finetune(run_dir, base, spec, config)
    prepared.trainer.writer_lock.release()  # the process "ends" before its first step
    del prepared
    assert Run.open(run_dir).latest_checkpoint() is None
    w = make_window()
    assert open_run(w, run_dir)
    tab = finetune_tab(w)
    start = finetune_widget(w, "finetuneStartButton")
    assert start.text() == "Start over" and start.isEnabled()
    assert controls(w).start.text() != "Resume run"
    with qtbot.waitSignal(training(w).run_started, timeout=60_000) as started:
        qtbot.mouseClick(start, Qt.MouseButton.LeftButton)
    assert (started.args[0].path, started.args[0].resumed, started.args[0].start_step) == \
        (run_dir, False, 0)
    qtbot.waitUntil(lambda: training(w).state is IDLE, timeout=120_000)
    assert tab.run_dir == run_dir
    # The tab's own after-run work (the test-split report builds a model in a worker) must end
    # before the oracle trains here: PyTorch's global RNG is one for all threads.
    lab = tab.lab
    qtbot.waitUntil(lambda: not any(p.busy for p in (lab._preview, lab._report, lab._predict,
                                                      lab._responses)), timeout=60_000)
    headless = tmp_path / "headless-new"
    for _ in prepare_finetune(headless, base, spec, config).trainer.events():
        pass
    assert step_losses(run_dir) == step_losses(headless)
    assert list(step_losses(run_dir)) == list(range(1, config.max_steps + 1))
