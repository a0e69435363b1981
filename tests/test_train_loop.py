"""The training loop: events, gradient accumulation, NaN skipping, pause/resume/stop, hooks
(stopping from another thread, and what a stop saves: test_train_resume.py)."""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pytest
import torch
from torch import nn

import gptstudio.core.train.task as task_module
from gptstudio.core.errors import ConfigError, DatasetError, TrainingError
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
    WarningEvent,
    load_checkpoint,
    read_metrics,
)
from tests.tiny_runs import one_thread, char_splits  # noqa: F401 - one_thread is active here

WORDS = "the cat sat on a mat and saw one small red fox run far away from home".split()


def make_text(n_words: int = 3000, seed: int = 0) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(WORDS) for _ in range(n_words)) + "\n"


@pytest.fixture(scope="module")
def data():
    """(tokenizer, train tokens, val tokens) of a small word-salad corpus."""
    return char_splits(make_text())


def nano(tok, seed=0, **overrides):
    torch.manual_seed(seed)
    cfg = from_preset("nano", vocab_size=tok.vocab_size, block_size=16, **overrides)
    return build_model(cfg)


def quick_config(**overrides) -> TrainConfig:
    base = dict(max_steps=6, batch_size=4, warmup_steps=2, eval_interval=0, eval_iters=2,
                sample_interval=0, checkpoint_interval=0, precision="fp32", compile="off")
    return TrainConfig(**{**base, **overrides})


def steps_of(events):
    return [e for e in events if isinstance(e, StepEvent)]


class NaNLoss(nn.Module):
    """Wraps a model; the loss of the forward calls listed in `bad_calls` becomes NaN."""

    def __init__(self, inner: nn.Module, bad_calls: set[int]) -> None:
        super().__init__()
        self.inner, self.config, self.bad_calls, self.calls = inner, inner.config, bad_calls, 0

    def forward(self, idx, targets=None, **kwargs):
        out = self.inner(idx, targets, **kwargs)
        self.calls += 1
        if self.calls in self.bad_calls:
            # Multiplying keeps the graph, so the gradients are NaN too, as in a real blow-up.
            out = dataclasses.replace(out, loss=out.loss * float("nan"))
        return out


def weights(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- a whole run ---------------------------------------------------------------------------


def test_a_run_reports_steps_evals_samples_and_checkpoints_in_order(data, tmp_path):
    tok, train, val = data
    model = nano(tok)
    cfg = quick_config(eval_interval=3, sample_interval=3, sample_tokens=5, checkpoint_interval=3)
    run = Run.create(tmp_path / "run", model.config, cfg, {"corpus": "salad"}, tok)
    events = list(Trainer(model, tok, train, val, cfg, run=run).events())

    assert isinstance(events[0], StatusEvent) and events[0].state == "running"
    assert events[-1] == StatusEvent("finished", events[-1].message, 6)
    steps = steps_of(events)
    assert [s.step for s in steps] == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(s.loss) and s.grad_norm > 0 and s.tokens_per_sec > 0 for s in steps)
    assert [s.tokens_seen for s in steps] == [4 * 16 * k for k in range(1, 7)]
    assert steps[-1].eta == 0 and steps[0].max_steps == 6
    assert steps[0].lr == pytest.approx(5e-4) and steps[1].lr == pytest.approx(1e-3)
    evals = [e for e in events if isinstance(e, EvalEvent)]
    assert [e.step for e in evals] == [3, 6]
    for e in evals:
        assert e.val_ppl == pytest.approx(math.exp(e.val_loss))
        # One byte per character here, so bits per byte = loss / ln 2.
        assert e.val_bpb == pytest.approx(e.val_loss / math.log(2))
    assert evals[1].val_loss < evals[0].val_loss + 0.5  # it is learning, not diverging
    samples = [e for e in events if isinstance(e, SampleEvent)]
    assert [s.step for s in samples] == [3, 6] and all(s.prompt == "\n" for s in samples)
    assert all(isinstance(s.text, str) and s.text for s in samples)
    checkpoints = [e for e in events if isinstance(e, CheckpointEvent)]
    assert [c.step for c in checkpoints] == [0, 3, 6]  # step 0: saved before the first step
    assert events[1] == checkpoints[0]  # right after "running", before any step
    # Each event is in metrics.jsonl, in the same order.
    assert read_metrics(run.metrics_path) == events


def test_losses_fall_on_a_learnable_corpus(data):
    tok, train, val = data
    cfg = quick_config(max_steps=40, batch_size=8, learning_rate=3e-3, warmup_steps=5)
    losses = [s.loss for s in steps_of(Trainer(nano(tok), tok, train, val, cfg).events())]
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.5


def test_training_is_deterministic_for_a_seed(data):
    tok, train, val = data
    cfg = quick_config(max_steps=4)
    runs = [[s.loss for s in steps_of(Trainer(nano(tok, dropout=0.1), tok, train, val,
                                                 cfg).events())] for _ in range(2)]
    assert runs[0] == runs[1]
    other = [s.loss for s in steps_of(Trainer(nano(tok, dropout=0.1), tok, train, val,
                                               cfg.replace(seed=7)).events())]
    assert other != runs[0]


def test_bf16_autocast_trains_with_float32_weights(data):
    tok, train, val = data
    model = nano(tok)
    trainer = Trainer(model, tok, train, val, quick_config(max_steps=3, precision="bf16"))
    steps = steps_of(trainer.events())
    assert trainer.precision == "bf16" and len(steps) == 3
    assert all(math.isfinite(s.loss) for s in steps)
    assert all(p.dtype == torch.float32 for p in model.parameters())


# --- gradient accumulation -----------------------------------------------------------------


class FixedBatcher:
    """Serves consecutive slices of one fixed batch (so two trainers see the same data)."""

    rows: torch.Tensor  # (N, T + 1), set by the test

    def __init__(self, tokens, block_size, batch_size, seed=0):
        self.tokens, self.batch_size, self.position = tokens, batch_size, 0

    def next_batch(self):
        rows = self.rows[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return rows[:, :-1], rows[:, 1:]

    def state_dict(self):
        return {"position": self.position}

    def load_state_dict(self, state):
        self.position = state["position"]


def test_two_accumulated_micro_batches_equal_one_batch_twice_as_big(data, monkeypatch):
    tok, train, val = data
    monkeypatch.setattr(task_module, "RandomBatcher", FixedBatcher)  # the default batch source
    g = torch.Generator().manual_seed(0)
    FixedBatcher.rows = torch.randint(0, tok.vocab_size, (8, 17), generator=g)
    results = []
    for batch_size, accum in ((8, 1), (4, 2)):
        model = nano(tok)
        cfg = quick_config(max_steps=1, batch_size=batch_size, grad_accum=accum, grad_clip=0.0,
                           warmup_steps=0)
        events = list(Trainer(model, tok, train, val, cfg).events())
        results.append((steps_of(events)[0], weights(model)))
    (big, w_big), (accumulated, w_acc) = results
    assert accumulated.loss == pytest.approx(big.loss, rel=1e-6)
    assert accumulated.grad_norm == pytest.approx(big.grad_norm, rel=1e-5)
    assert accumulated.tokens_seen == big.tokens_seen == 8 * 16
    for name in w_big:
        # Adam divides by sqrt(v): near-zero gradients amplify rounding, hence atol.
        torch.testing.assert_close(w_acc[name], w_big[name], rtol=1e-4, atol=2e-5)


# --- non-finite losses ---------------------------------------------------------------------


def test_nan_steps_are_skipped_without_touching_the_weights(data):
    tok, train, val = data
    model = NaNLoss(nano(tok), bad_calls={3, 5})  # steps 3 and 5 (one forward per step)
    snapshots = {}
    trainer = Trainer(model, tok, train, val, quick_config(max_steps=7),
                      hooks=[lambda m, step: snapshots.__setitem__(step, weights(m))])
    events = list(trainer.events())
    steps = steps_of(events)
    assert [s.step for s in steps if s.skipped] == [3, 5]
    assert all(math.isnan(s.loss) for s in steps if s.skipped)
    warnings = [e for e in events if isinstance(e, WarningEvent)]
    assert [w.step for w in warnings] == [3, 5] and "skipped" in warnings[0].message
    assert same(snapshots[3], snapshots[2]) and same(snapshots[5], snapshots[4])
    assert not same(snapshots[4], snapshots[3])  # good steps do change the weights
    assert events[-1].state == "finished"
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_too_many_nan_steps_in_a_row_stop_with_a_clear_message(data, tmp_path):
    tok, train, val = data
    model = NaNLoss(nano(tok), bad_calls=set(range(5, 100)))  # from step 5 on, always NaN
    cfg = quick_config(max_steps=20, max_nonfinite=3, checkpoint_interval=2)
    run = Run.create(tmp_path / "run", model.config, cfg, {}, tok)
    snapshots = {}
    events = []
    trainer = Trainer(model, tok, train, val, cfg, run=run,
                      hooks=[lambda m, step: snapshots.__setitem__(step, weights(m))])
    with pytest.raises(TrainingError, match="not finite.*3 steps in a row") as info:
        for event in trainer.events():
            events.append(event)
    assert "learning rate" in str(info.value)
    assert events[-1].state == "failed" and events[-1].message == str(info.value)
    assert [s.step for s in steps_of(events)][-1] == 7  # steps 5, 6, 7 were NaN
    assert same(snapshots[7], snapshots[4])
    # Nothing is saved after the failure; the newest checkpoint (step 6, saved during the
    # streak) holds the good weights of step 4, and the message points to it.
    latest = run.latest_checkpoint()
    assert latest.step == 6 and "(step 6) is kept" in str(info.value)
    fresh = NaNLoss(nano(tok, seed=1), set())
    load_checkpoint(latest.path, fresh)
    assert same(weights(fresh), snapshots[4])
    assert read_metrics(run.metrics_path)[-1].state == "failed"


# --- pause, resume, stop -------------------------------------------------------------------


def test_a_hook_pauses_and_the_event_consumer_resumes(data):
    tok, train, val = data
    control = TrainControl()

    def pause_at_3(model, step):
        if step == 3:
            control.pause()

    trainer = Trainer(nano(tok), tok, train, val, quick_config(max_steps=5), control=control,
                      hooks=[pause_at_3])
    seen = []
    for event in trainer.events():
        seen.append(event)
        if isinstance(event, StatusEvent) and event.state == "paused":
            assert trainer.step == 3
            control.resume()  # before asking for the next event (else next() would block)
    kinds = [(type(e).__name__, getattr(e, "state", getattr(e, "step", None))) for e in seen]
    i = kinds.index(("StatusEvent", "paused"))
    assert kinds[i - 1] == ("StepEvent", 3)
    assert kinds[i + 1] == ("StatusEvent", "running") and kinds[i + 2] == ("StepEvent", 4)
    assert seen[-1].state == "finished" and trainer.step == 5


def test_a_stop_between_micro_batches_abandons_the_whole_step(data):
    tok, train, val = data
    control = TrainControl()

    class StopOnCall(NaNLoss):
        def forward(self, idx, targets=None, **kwargs):
            if self.calls + 1 in self.bad_calls:
                control.stop()
            self.calls += 1
            return self.inner(idx, targets, **kwargs)

    model = StopOnCall(nano(tok), bad_calls={5})  # call 5 = first micro-batch of step 3
    snapshots = {}
    trainer = Trainer(model, tok, train, val, quick_config(max_steps=6, grad_accum=2),
                      control=control,
                      hooks=[lambda m, step: snapshots.__setitem__(step, weights(m))])
    events = list(trainer.events())
    assert [s.step for s in steps_of(events)] == [1, 2]
    assert events[-1].state == "stopped" and trainer.step == 2
    assert same(weights(model), snapshots[2])  # half a step left no trace
    # No gradient is left behind (None, or zeros where FlatAdamW keeps them in place).
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


def test_set_learning_rate_mid_run_scales_the_schedule(data):
    tok, train, val = data
    control = TrainControl()
    cfg = quick_config(max_steps=8, warmup_steps=2, min_lr=1e-4)

    def double_at_4(model, step):
        if step == 4:
            control.set_learning_rate(2e-3)

    trainer = Trainer(nano(tok), tok, train, val, cfg, control=control, hooks=[double_at_4])
    lrs = [s.lr for s in steps_of(trainer.events())]
    reference = Trainer(nano(tok), tok, train, val, cfg)
    expected = [reference.learning_rate(i) * (2 if i >= 4 else 1) for i in range(8)]
    assert lrs == pytest.approx(expected)
    assert trainer.train_state()["peak_lr_override"] == 2e-3


# --- hooks and errors ----------------------------------------------------------------------


def test_hooks_run_every_step_in_eval_safe_conditions_and_do_not_change_randomness(data):
    tok, train, val = data
    calls = []

    def peek(model, step):
        calls.append((step, torch.is_grad_enabled()))
        torch.rand(100)  # draws from the global RNG: must not change training's dropout
        model.eval()  # and a hook leaving eval mode on must not switch dropout off

    cfg = quick_config(max_steps=4)
    with_hook = [s.loss for s in steps_of(Trainer(nano(tok, dropout=0.2), tok, train, val, cfg,
                                                  hooks=[peek]).events())]
    without = [s.loss for s in steps_of(Trainer(nano(tok, dropout=0.2), tok, train, val,
                                                cfg).events())]
    assert calls == [(1, False), (2, False), (3, False), (4, False)]
    assert with_hook == without


def test_a_failing_torch_compile_falls_back_to_eager_with_a_warning(data, monkeypatch):
    tok, train, val = data

    def broken_compile(model):
        def compiled(*args, **kwargs):
            raise RuntimeError("no C++ compiler found")
        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)
    events = list(Trainer(nano(tok, dropout=0.1), tok, train, val,
                          quick_config(max_steps=3, compile="on")).events())
    warnings = [e for e in events if isinstance(e, WarningEvent)]
    assert len(warnings) == 1 and "no C++ compiler" in warnings[0].message
    eager = list(Trainer(nano(tok, dropout=0.1), tok, train, val,
                         quick_config(max_steps=3)).events())
    # The failed attempt consumed no data or randomness: same losses as a plain eager run.
    assert [s.loss for s in steps_of(events)] == [s.loss for s in steps_of(eager)]


def test_a_trainer_runs_only_once(data):
    tok, train, val = data
    trainer = Trainer(nano(tok), tok, train, val, quick_config(max_steps=1))
    list(trainer.events())
    with pytest.raises(TrainingError, match="already run"):
        next(trainer.events())


def test_setup_errors_are_clear(data):
    tok, train, val = data
    with pytest.raises(DatasetError, match="val split has 5 tokens"):
        Trainer(nano(tok), tok, train, val[:5], quick_config())
    with pytest.raises(ConfigError, match="sample prompt cannot be encoded"):
        Trainer(nano(tok), tok, train, val, quick_config(sample_interval=2, sample_prompt="Ωmega"))
    with pytest.raises(ConfigError, match="rank"):
        Trainer(nano(tok), tok, train, val, quick_config(), rank=2, world_size=2)


def test_only_rank_0_writes_and_ranks_draw_different_data(data, tmp_path):
    tok, train, val = data
    cfg = quick_config(max_steps=2, checkpoint_interval=1)
    run = Run.create(tmp_path / "run", from_preset("nano", vocab_size=tok.vocab_size,
                                                   block_size=16), cfg, {}, tok)
    rank1 = Trainer(nano(tok), tok, train, val, cfg, run=run, rank=1, world_size=2)
    steps1 = steps_of(rank1.events())
    assert not run.metrics_path.exists() and run.checkpoints() == []
    assert steps1[-1].tokens_seen == 2 * 2 * 4 * 16  # all ranks' tokens
    rank0 = Trainer(nano(tok), tok, train, val, cfg, run=run, rank=0, world_size=2)
    steps0 = steps_of(rank0.events())
    assert [s.loss for s in steps0] != [s.loss for s in steps1]
    assert run.metrics_path.exists() and [c.step for c in run.checkpoints()] == [0, 1, 2]
