"""Requests through TrainControl (checkpoint, weights, attention), served between steps and while
paused, by real tiny models; they never change the run, and their arrays never reach the log."""

from __future__ import annotations

import dataclasses
import queue
import threading

import numpy as np
import pytest
import torch

from gptstudio.core.model import LSTMConfig, build_model, from_preset
from gptstudio.core.train import (
    AttentionEvent,
    CheckpointEvent,
    EvalEvent,
    Run,
    SampleEvent,
    StatusEvent,
    StepEvent,
    TrainConfig,
    TrainControl,
    Trainer,
    WarningEvent,
    WeightsEvent,
    event_to_dict,
    load_checkpoint,
    read_metrics,
)
from tests.tiny_runs import one_thread, word_salad_splits  # noqa: F401 - one_thread is active here

WORDS = "the cat sat on a mat and saw one small red fox run far away from home".split()
PROMPT = "the cat"


@pytest.fixture(scope="module")
def data():
    return word_salad_splits(WORDS, seed=0, n_words=3000)


def nano(tok, dropout=0.1):
    torch.manual_seed(0)
    return build_model(from_preset("nano", vocab_size=tok.vocab_size, block_size=16,
                                   dropout=dropout))


def tiny_lstm(tok):
    torch.manual_seed(0)
    return build_model(LSTMConfig(vocab_size=tok.vocab_size, n_embd=16, n_hidden=24, n_layer=2,
                                  dropout=0.1, block_size=16))


def quick_config(**overrides) -> TrainConfig:
    base = dict(max_steps=6, batch_size=4, warmup_steps=2, eval_interval=0, eval_iters=2,
                sample_interval=0, checkpoint_interval=0, precision="fp32", compile="off")
    return TrainConfig(**{**base, **overrides})


def trainer(data, cfg, *, model=None, tmp_path=None, control=None, hooks=()):
    tok, train, val = data
    model = model if model is not None else nano(tok)
    run = (Run.create(tmp_path / "run", model.config, cfg, {}, tok)
           if tmp_path is not None else None)
    return Trainer(model, tok, train, val, cfg, run=run, control=control, hooks=hooks)


def losses(events):
    """What randomness decides: per-step loss and gradient norm, eval losses, sample text."""
    out = []
    for e in events:
        if isinstance(e, StepEvent):
            out.append((e.step, e.loss, e.grad_norm))
        elif isinstance(e, EvalEvent):
            out.append((e.step, e.train_loss, e.val_loss))
        elif isinstance(e, SampleEvent):
            out.append((e.step, e.text))
    return out


def kinds(events):
    """(class name, step or state) of each event, to check the order."""
    return [(type(e).__name__, e.state if isinstance(e, StatusEvent) else e.step)
            for e in events]


def weights_of(model):
    return {k: v.detach().clone().numpy() for k, v in model.state_dict().items()}


def pause_at(control, step):
    def hook(model, s):
        if s == step:
            control.pause()
    return hook


# --- served between steps --------------------------------------------------------------------


def test_a_checkpoint_request_is_saved_after_the_current_step(data, tmp_path):
    control = TrainControl()

    def ask_at_2(model, step):
        if step in (2, 4):
            control.request_checkpoint()

    cfg = quick_config(max_steps=5, checkpoint_interval=4)
    events = list(trainer(data, cfg, tmp_path=tmp_path, control=control,
                          hooks=[ask_at_2]).events())
    saved = [e.step for e in events if isinstance(e, CheckpointEvent)]
    assert saved == [0, 2, 4, 5]  # step 4 was asked for and scheduled: saved once
    order = kinds(events)
    assert order[order.index(("StepEvent", 2)) + 1] == ("CheckpointEvent", 2)


def test_watches_yield_attention_and_weights_on_their_steps(data):
    tok = data[0]
    control = TrainControl()
    control.watch_attention(PROMPT, 2)
    control.watch_weights(3)
    seen = {}  # step -> weights right after it, from a hook
    t = trainer(data, quick_config(), control=control,
                hooks=[lambda m, s: seen.__setitem__(s, weights_of(m))])
    events = list(t.events())
    attention = [e for e in events if isinstance(e, AttentionEvent)]
    assert [e.step for e in attention] == [2, 4, 6]
    for e in attention:
        assert e.maps.step == e.step and e.maps.tokens == tuple(PROMPT)
        assert e.maps.token_ids == tuple(tok.encode(PROMPT))
        cfg = t.model.config
        assert [w.shape for w in e.maps.weights] == [(cfg.n_head, 7, 7)] * cfg.n_layer
    snapshots = [e for e in events if isinstance(e, WeightsEvent)]
    assert [e.step for e in snapshots] == [3, 6]
    for e in snapshots:
        assert e.snapshot.step == e.step and e.snapshot.model_config == t.model.config
        assert all(np.array_equal(e.snapshot.state[k], v) for k, v in seen[e.step].items())
    # Each answer follows its step: Step 6, Weights 6, Attention 6 (weights first).
    order = kinds(events)
    i = order.index(("StepEvent", 6))
    assert order[i + 1: i + 3] == [("WeightsEvent", 6), ("AttentionEvent", 6)]


# --- served while paused ---------------------------------------------------------------------


def test_a_paused_trainer_serves_requests_and_stays_paused_until_resumed(data, tmp_path):
    control = TrainControl()
    seen = {}
    t = trainer(data, quick_config(), tmp_path=tmp_path, control=control,
                hooks=[pause_at(control, 3), lambda m, s: seen.__setitem__(s, weights_of(m))])
    events = []
    for event in t.events():
        events.append(event)
        if isinstance(event, StatusEvent) and event.state == "paused":
            control.request_checkpoint()
            control.request_weights()
        elif isinstance(event, WeightsEvent) and control.paused:
            # Asking for the next event now would block: the trainer waits again.
            control.resume()
    order = kinds(events)
    i = order.index(("StatusEvent", "paused"))
    assert order[i - 1] == ("StepEvent", 3)
    assert order[i + 1:i + 5] == [("CheckpointEvent", 3), ("WeightsEvent", 3),
                                  ("StatusEvent", "running"), ("StepEvent", 4)]
    snapshot = next(e for e in events if isinstance(e, WeightsEvent)).snapshot
    assert all(np.array_equal(snapshot.state[k], v) for k, v in seen[3].items())
    assert 3 in [c.step for c in t.run.checkpoints()]


def test_paused_inside_an_accumulated_step_weights_are_served_and_the_checkpoint_waits(
        data, tmp_path):
    tok = data[0]
    control = TrainControl()
    model = nano(tok)
    calls = {"n": 0}
    original_forward = model.forward

    def forward_that_pauses(*args, **kwargs):
        calls["n"] += model.training
        if calls["n"] == 2 * 2 + 1:  # the first micro-batch of step 3
            control.pause()  # seen before the second micro-batch
        return original_forward(*args, **kwargs)

    model.forward = forward_that_pauses
    cfg = quick_config(grad_accum=2)
    seen = {}
    t = trainer(data, cfg, model=model, tmp_path=tmp_path, control=control,
                hooks=[lambda m, s: seen.__setitem__(s, weights_of(m))])
    events = []
    for event in t.events():
        events.append(event)
        if isinstance(event, StatusEvent) and event.state == "paused":
            assert t.step == 2  # half of step 3 is done
            control.request_checkpoint()
            control.request_weights()
        elif isinstance(event, WeightsEvent) and control.paused:
            control.resume()
    order = kinds(events)
    i = order.index(("StatusEvent", "paused"))
    assert order[i + 1:i + 5] == [("WeightsEvent", 2), ("StatusEvent", "running"),
                                  ("StepEvent", 3), ("CheckpointEvent", 3)]
    # Half a step has changed no weight.
    snapshot = next(e for e in events if isinstance(e, WeightsEvent)).snapshot
    assert all(np.array_equal(snapshot.state[k], v) for k, v in seen[2].items())
    plain = list(trainer(data, cfg).events())
    assert losses(events) == losses(plain)


def test_requests_from_another_thread_wake_a_paused_trainer(data, tmp_path):
    control = TrainControl()
    t = trainer(data, quick_config(max_steps=4), tmp_path=tmp_path, control=control,
                hooks=[pause_at(control, 2)])
    events: queue.Queue = queue.Queue()

    def worker():
        for event in t.events():
            events.put(event)
        events.put(None)

    thread = threading.Thread(target=worker)
    thread.start()
    seen = [events.get(timeout=30)]
    while not (isinstance(seen[-1], StatusEvent) and seen[-1].state == "paused"):
        seen.append(events.get(timeout=30))
    control.request_weights()
    assert isinstance(answer := events.get(timeout=30), WeightsEvent) and answer.step == 2
    control.request_checkpoint()
    assert isinstance(answer := events.get(timeout=30), CheckpointEvent) and answer.step == 2
    control.request_attention(PROMPT)
    assert isinstance(answer := events.get(timeout=30), AttentionEvent) and answer.step == 2
    assert control.paused and t.step == 2
    control.resume()
    # Nothing happened in between: the next event is the resume itself, not a step.
    assert kinds([events.get(timeout=30)]) == [("StatusEvent", "running")]
    while (event := events.get(timeout=30)) is not None:
        seen.append(event)
    thread.join(timeout=30)
    assert not thread.is_alive() and seen[-1].state == "finished" and t.step == 4


# --- the run is unchanged, the log stays small ----------------------------------------------


def test_served_requests_do_not_change_the_run(data, tmp_path):
    cfg = quick_config(max_steps=8, grad_accum=2, eval_interval=3, sample_interval=4,
                       sample_tokens=6)
    control = TrainControl()
    control.watch_weights(1)
    control.watch_attention(PROMPT, 2)

    def ask(model, step):
        if step == 3:
            control.request_attention("on a mat")
            control.request_checkpoint()
            control.pause()

    events, waiting = [], False
    for event in trainer(data, cfg, tmp_path=tmp_path, control=control, hooks=[ask]).events():
        events.append(event)
        if isinstance(event, StatusEvent) and event.state == "paused":
            control.request_weights()
            waiting = True
        elif isinstance(event, WeightsEvent) and waiting:  # the answer to the paused request
            control.resume()
            waiting = False
    assert ("StatusEvent", "paused") in kinds(events)
    assert sum(isinstance(e, AttentionEvent) for e in events) == 4 + 1
    assert sum(isinstance(e, WeightsEvent) for e in events) == 8 + 1
    assert [e.step for e in events if isinstance(e, CheckpointEvent)] == [0, 3, 8]
    plain = list(trainer(data, cfg).events())
    assert losses(events) == losses(plain)  # == on floats: bit for bit


def test_attention_on_an_lstm_warns_once_and_changes_nothing(data):
    tok = data[0]
    cfg = quick_config()
    control = TrainControl()
    control.watch_attention(PROMPT, 1)
    control.request_attention("on a mat")
    events = list(trainer(data, cfg, model=tiny_lstm(tok), control=control).events())
    warnings = [e for e in events if isinstance(e, WarningEvent)]
    assert len(warnings) == 1 and "LSTM baseline has no attention" in warnings[0].message
    assert not any(isinstance(e, AttentionEvent) for e in events)
    plain = list(trainer(data, cfg, model=tiny_lstm(tok)).events())
    assert losses(events) == losses(plain)


def test_a_checkpoint_request_without_a_run_folder_warns(data):
    control = TrainControl()
    control.request_checkpoint()
    events = list(trainer(data, quick_config(max_steps=2), control=control).events())
    warnings = [e for e in events if isinstance(e, WarningEvent)]
    assert len(warnings) == 1 and "run folder" in warnings[0].message
    assert not any(isinstance(e, CheckpointEvent) for e in events)


def test_weights_and_attention_never_reach_metrics_jsonl(data, tmp_path):
    control = TrainControl()
    control.watch_weights(2)
    control.watch_attention(PROMPT, 2)
    t = trainer(data, quick_config(max_steps=4, checkpoint_interval=2), tmp_path=tmp_path,
                control=control)
    events = list(t.events())
    big = [e for e in events if isinstance(e, (WeightsEvent, AttentionEvent))]
    assert len(big) == 4
    assert read_metrics(t.run.metrics_path) == [e for e in events if e not in big]
    text = t.run.metrics_path.read_text()
    assert "snapshot" not in text and "maps" not in text
    with pytest.raises(TypeError, match="not written to the run log"):
        event_to_dict(big[0])
    # A snapshot of the last step builds a model equal to the checkpoint's.
    last = [e for e in big if isinstance(e, WeightsEvent)][-1]
    assert last.step == 4
    from_disk = nano(data[0])
    load_checkpoint(t.run.checkpoints_dir, from_disk)
    rebuilt = last.snapshot.to_model()
    ids = torch.tensor([data[0].encode(PROMPT)])
    with torch.no_grad():
        assert torch.equal(rebuilt(ids).logits, from_disk.eval()(ids).logits)


def test_snapshots_are_frozen_copies(data):
    control = TrainControl()
    control.watch_weights(1)
    events = list(trainer(data, quick_config(max_steps=3), control=control).events())
    first, last = [e.snapshot for e in events if isinstance(e, WeightsEvent)][::2]
    assert first.step == 1 and last.step == 3
    assert any(not np.array_equal(first.state[k], last.state[k]) for k in first.state)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.step = 2  # type: ignore[misc]
