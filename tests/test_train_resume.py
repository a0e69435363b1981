"""Exact resume: stopped at step n and resumed, a run repeats the uninterrupted one bit for bit;
and what a stop leaves to resume from (`stop()` saves its last step, `stop(save=False)` doesn't)."""

from __future__ import annotations

import queue
import threading

import pytest
import torch

from gptstudio.core.errors import CheckpointError, TrainingError
from gptstudio.core.model import build_model, from_preset
from gptstudio.core.train import (
    CheckpointEvent,
    EvalEvent,
    Run,
    SampleEvent,
    StatusEvent,
    StepEvent,
    TrainConfig,
    TrainControl,
    Trainer,
    load_checkpoint,
    read_metrics,
)
from tests.tiny_runs import one_thread, word_salad_splits  # noqa: F401 - one_thread is active here

WORDS = "to be or not that is the question whether tis nobler in mind suffer".split()


@pytest.fixture(scope="module")
def data():
    return word_salad_splits(WORDS, seed=1, n_words=2500)


def model_config(tok):
    # Dropout makes the run depend on the RNG state, which resume must restore too.
    return from_preset("nano", vocab_size=tok.vocab_size, block_size=16, dropout=0.1)


def fresh_model(tok, seed):
    torch.manual_seed(seed)
    return build_model(model_config(tok))


def config(**overrides) -> TrainConfig:
    base = dict(max_steps=24, batch_size=4, grad_accum=2, warmup_steps=4, eval_interval=8,
                eval_iters=2, sample_interval=10, sample_tokens=8, checkpoint_interval=5,
                keep_last=2, precision="fp32", compile="off")
    return TrainConfig(**{**base, **overrides})


def record(events):
    """What must match: per-step loss, lr and grad norm, evals and samples (times excluded)."""
    out = []
    for e in events:
        if isinstance(e, StepEvent):
            out.append(("step", e.step, e.loss, e.lr, e.grad_norm, e.tokens_seen, e.skipped))
        elif isinstance(e, EvalEvent):
            out.append(("eval", e.step, e.train_loss, e.val_loss))
        elif isinstance(e, SampleEvent):
            out.append(("sample", e.step, e.text))
    return out


def uninterrupted(data, cfg):
    tok, train, val = data
    return record(Trainer(fresh_model(tok, 0), tok, train, val, cfg).events())


def trainer_in_a_run(data, tmp_path, cfg, at_step: int, action: str):
    """A Trainer in a new run folder whose control `action`s ("stop", "pause") after `at_step`."""
    tok, train, val = data
    control = TrainControl()

    def hook(model, step):
        if step == at_step:
            getattr(control, action)()

    run = Run.create(tmp_path / "run", model_config(tok), cfg, {}, tok)
    trainer = Trainer(fresh_model(tok, 0), tok, train, val, cfg, run=run, control=control,
                      hooks=[hook])
    return trainer, run, control


def upto(records, step):
    """The records of a session up to `step`, its eval and sample included."""
    return [r for r in records if r[1] <= step]


def resume(data, run, cfg):
    """A new process would do this: new model (other init), weights and state from disk."""
    tok, train, val = data
    run = Run.open(run.path)
    tokenizer = run.load_tokenizer()
    model = fresh_model(tok, seed=123)
    checkpoint = load_checkpoint(run.checkpoints_dir, model, tokenizer=tokenizer)
    trainer = Trainer(model, tokenizer, train, val, cfg, run=run, start_state=checkpoint)
    return checkpoint.step, record(trainer.events())


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_stop_and_resume_repeats_the_uninterrupted_run_bit_for_bit(data, tmp_path, precision):
    cfg = config(precision=precision)
    full = uninterrupted(data, cfg)
    trainer, run, _ = trainer_in_a_run(data, tmp_path, cfg, 13, "stop")
    first = record(trainer.events())
    assert first == full[: len(first)] and first[-1][:2] == ("step", 13)
    step, rest = resume(data, run, cfg)
    assert step == 13
    assert first + rest == full  # == on floats: bit for bit


def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_0_exactly(data, tmp_path):
    tok, train, val = data
    cfg = config()
    full = uninterrupted(data, cfg)
    run = Run.create(tmp_path / "run", model_config(tok), cfg, {}, tok)
    events = Trainer(fresh_model(tok, 0), tok, train, val, cfg, run=run).events()
    for event in events:
        if isinstance(event, CheckpointEvent):
            break  # the step-0 checkpoint is the first one; then the process "dies"
    events.close()  # no final checkpoint, as after a kill
    assert event.step == 0 and [c.step for c in run.checkpoints()] == [0]
    step, rest = resume(data, run, cfg)
    assert step == 0 and rest == full


def test_resume_after_max_steps_continues_the_same_schedule(data, tmp_path):
    tok, train, val = data
    cfg = config(lr_decay_steps=24)  # the schedule must not depend on where a session ends
    full = uninterrupted(data, cfg)
    short = cfg.replace(max_steps=10)
    run = Run.create(tmp_path / "run", model_config(tok), short, {}, tok)
    first = record(Trainer(fresh_model(tok, 0), tok, train, val, short, run=run).events())
    # A finished session evaluates at its end (step 10): the full run did not, so skip that.
    first = [r for r in first if r[:2] != ("eval", 10)]
    step, rest = resume(data, run, cfg)
    assert step == 10
    assert first + rest == full


@pytest.mark.parametrize("save", [True, False])
def test_a_stop_half_way_through_an_accumulated_step_resumes_exactly(data, tmp_path, save):
    tok, train, val = data
    cfg = config()
    full = uninterrupted(data, cfg)
    control = TrainControl()
    model = fresh_model(tok, 0)
    calls = {"n": 0}
    original_forward = model.forward

    def forward_that_stops(*args, **kwargs):
        calls["n"] += model.training  # evaluation and sampling calls don't count
        if calls["n"] == 2 * 7 + 1:  # the first micro-batch of step 8
            control.stop(save=save)
        return original_forward(*args, **kwargs)

    # Stop requests are read between micro-batches: this one is seen after the first half of
    # step 8, which has already consumed data and dropout randomness.
    model.forward = forward_that_stops
    run = Run.create(tmp_path / "run", model_config(tok), cfg, {}, tok)
    first = record(Trainer(model, tok, train, val, cfg, run=run, control=control).events())
    assert first[-1][:2] == ("step", 7)
    step, rest = resume(data, run, cfg)
    # Without the final save, the run goes on from its last scheduled checkpoint (step 5).
    assert step == (7 if save else 5) and upto(first, step) + rest == full


def test_resume_refuses_a_state_for_another_optimizer_layout(data, tmp_path):
    tok, train, val = data
    cfg = config(max_steps=2, checkpoint_interval=1, eval_interval=0, sample_interval=0)
    run = Run.create(tmp_path / "run", model_config(tok), cfg, {}, tok)
    list(Trainer(fresh_model(tok, 0), tok, train, val, cfg, run=run).events())
    checkpoint = load_checkpoint(run.checkpoints_dir, fresh_model(tok, 0))
    broken = dict(checkpoint.train_state, optimizer={"state": {}, "param_groups": []})
    with pytest.raises(CheckpointError, match="cannot be resumed"):
        Trainer(fresh_model(tok, 0), tok, train, val, cfg, start_state=broken)
    with pytest.raises(CheckpointError, match="version"):
        Trainer(fresh_model(tok, 0), tok, train, val, cfg,
                start_state=dict(checkpoint.train_state, version=99))
    # Another corpus: the saved data position belongs to a different token row.
    with pytest.raises(CheckpointError, match="n_tokens"):
        Trainer(fresh_model(tok, 0), tok, train[:-100], val, cfg, start_state=checkpoint)


def test_a_checkpoint_saved_while_paused_resumes_exactly(data, tmp_path):
    cfg = config(checkpoint_interval=0)  # the only checkpoint is the one asked for
    full = uninterrupted(data, cfg)
    trainer, run, control = trainer_in_a_run(data, tmp_path, cfg, 11, "pause")
    events, first, saved = trainer.events(), [], None
    for event in events:
        first += record([event])
        if isinstance(event, StatusEvent) and event.state == "paused":
            saved = trainer.save_checkpoint()  # the loop is waiting: weights are consistent
            control.stop()
    assert saved is not None and saved.step == 11 and first[-1][:2] == ("step", 11)
    # Step 0 (saved before the first step) and the one asked for.
    assert [c.step for c in run.checkpoints()] == [0, 11]
    assert str(run.checkpoints()[-1].path) == saved.path
    step, rest = resume(data, run, cfg)
    assert step == 11 and first + rest == full


def test_save_checkpoint_needs_a_run_folder(data):
    tok, train, val = data
    trainer = Trainer(fresh_model(tok, 0), tok, train, val, config())
    with pytest.raises(TrainingError, match="run folder"):
        trainer.save_checkpoint()


# --- what a stop leaves on disk ------------------------------------------------------------


def test_control_stop_save_the_latest_call_wins():
    control = TrainControl()
    assert control.save_on_stop and not control.stopped
    control.stop(save=False)
    assert control.stopped and not control.save_on_stop
    control.stop()
    assert control.stopped and control.save_on_stop
    control.stop(save=False)
    assert not control.save_on_stop and not control.paused


@pytest.mark.parametrize("saves, saved", [((True,), True), ((False,), False),
                                          ((False, True), True), ((True, False), False)])
def test_a_stop_between_steps_saves_the_last_step_unless_told_not_to(data, tmp_path, saves,
                                                                     saved):
    tok, train, val = data
    cfg = config(max_steps=10, sample_interval=0)
    control = TrainControl()

    def stop_at_7(model, step):
        if step == 7:
            for save in saves:  # the later call wins
                control.stop(save=save)

    run = Run.create(tmp_path / "run", model_config(tok), cfg, {}, tok)
    trainer = Trainer(fresh_model(tok, 0), tok, train, val, cfg, run=run, control=control,
                      hooks=[stop_at_7])
    events = list(trainer.events())
    assert [e.step for e in events if isinstance(e, StepEvent)][-1] == 7
    assert [c.step for c in run.checkpoints()] == ([5, 7] if saved else [0, 5])  # keep_last=2
    final = events[-1]
    assert final.state == "stopped" and final.step == 7
    assert ("Not saved" in final.message) is not saved
    assert read_metrics(run.metrics_path) == events  # the log ends with the same "stopped"


def in_a_thread(trainer):
    """Iterate `trainer.events()` in a thread, as the app does; events come through the queue,
    then None."""
    events: queue.Queue = queue.Queue()

    def worker():
        for event in trainer.events():
            events.put(event)
        events.put(None)

    thread = threading.Thread(target=worker)
    thread.start()
    return events, thread


def until_paused(events):
    seen = [events.get(timeout=30)]
    while not (isinstance(seen[-1], StatusEvent) and seen[-1].state == "paused"):
        seen.append(events.get(timeout=30))
    return seen


def until_the_end(events, thread, seen):
    while (event := events.get(timeout=30)) is not None:
        seen.append(event)
    thread.join(timeout=30)
    assert not thread.is_alive()
    return seen


def test_pause_resume_and_stop_from_another_thread(data, tmp_path):
    tok, train, val = data
    control = TrainControl()
    at_step_3, paused_by_main = threading.Event(), threading.Event()

    def hold_at_3(model, step):
        if step == 3:  # hand over to the main thread, and wait until it has paused us
            at_step_3.set()
            paused_by_main.wait(timeout=30)

    cfg = config(max_steps=1000, grad_accum=1, eval_interval=0, sample_interval=0,
                 checkpoint_interval=0)
    run = Run.create(tmp_path / "run", model_config(tok), cfg, {}, tok)
    trainer = Trainer(fresh_model(tok, 0), tok, train, val, cfg, run=run, control=control,
                      hooks=[hold_at_3])
    events, thread = in_a_thread(trainer)
    assert at_step_3.wait(timeout=30)
    control.pause()
    paused_by_main.set()
    seen = until_paused(events)
    assert trainer.step == 3 and [e.step for e in seen if isinstance(e, StepEvent)][-1] == 3
    control.resume()
    control.stop()
    final = until_the_end(events, thread, seen)[-1]
    assert final.state == "stopped" and final.step == trainer.step < 1000
    assert run.latest_checkpoint().step == trainer.step  # a stop saves the last full step


def test_stop_without_saving_wakes_a_paused_trainer_and_writes_nothing_more(data, tmp_path):
    cfg = config()
    full = uninterrupted(data, cfg)
    trainer, run, control = trainer_in_a_run(data, tmp_path, cfg, 7, "pause")
    events, thread = in_a_thread(trainer)  # the training thread sleeps in the pause
    seen = until_paused(events)
    control.stop(save=False)  # the window closes: "Discard"
    until_the_end(events, thread, seen)
    # Nothing between the pause and the end: no checkpoint, no final evaluation.
    tail = [getattr(e, "state", type(e).__name__) for e in seen[-2:]]
    assert tail == ["paused", "stopped"] and seen[-1].step == trainer.step == 7
    assert [c.step for c in run.checkpoints()] == [0, 5]  # step 0 and the scheduled one stay
    logged = read_metrics(run.metrics_path)
    assert logged == seen and logged[-1].state == "stopped"
    step, rest = resume(data, run, cfg)
    assert step == 5 and upto(record(seen), 5) + rest == full
