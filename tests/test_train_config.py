"""TrainConfig validation, the learning-rate schedule, TrainControl, events and AdamW groups."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gptstudio.core.errors import ConfigError
from gptstudio.core.model import build_model, from_preset
from gptstudio.core.train import (
    EvalEvent,
    SampleEvent,
    StatusEvent,
    StepEvent,
    TrainConfig,
    TrainControl,
    WarningEvent,
    build_optimizer,
    event_from_dict,
    event_to_dict,
    learning_rate_at,
    param_groups,
)

# --- TrainConfig ---------------------------------------------------------------------------


def test_defaults_are_the_classic_cpu_run_and_round_trip_through_a_dict():
    cfg = TrainConfig()
    assert (cfg.max_steps, cfg.batch_size, cfg.learning_rate, cfg.warmup_steps) == (
        2000, 12, 1e-3, 100)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.decay_steps == cfg.max_steps
    assert cfg.replace(lr_decay_steps=50).decay_steps == 50


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("max_steps", 0, "at least 1"),
        ("max_steps", 1.5, "whole number"),
        ("batch_size", True, "whole number"),
        ("grad_accum", 0, "at least 1"),
        ("warmup_steps", -1, "at least 0"),
        ("learning_rate", 0.0, "above 0"),
        ("learning_rate", math.nan, "finite"),
        ("learning_rate", "1e-3", "number"),
        ("learning_rate", 2.0, "at most 1"),
        ("min_lr", 1.0, "between 0 and learning_rate"),
        ("weight_decay", -0.1, "0 or more"),
        ("grad_clip", -1.0, "0 or more"),
        ("beta2", 1.0, "[0, 1)"),
        ("val_fraction", 0.0, "between 0 and 1"),
        ("precision", "fp8", "precision must be one of"),
        ("device", "gpu", "device must be auto, cpu, cuda"),
        ("compile", "yes", "compile must be one of"),
        ("sample_prompt", 3, "text"),
        ("lr_decay_steps", 0, "at least 1"),
        ("seed", 2**64, "seed must be at most"),  # torch would fail later: "Overflow ..."
        ("max_nonfinite", 0, "at least 1"),
    ],
)
def test_impossible_values_raise_config_error_naming_the_field(field, value, words):
    with pytest.raises(ConfigError, match=field) as info:
        TrainConfig(**{field: value})
    assert words in str(info.value)


def test_from_dict_refuses_unknown_settings_and_non_mappings():
    with pytest.raises(ConfigError, match="Unknown training setting.*learning_rat\\b"):
        TrainConfig.from_dict({"learning_rat": 1e-3})
    with pytest.raises(ConfigError, match="mapping"):
        TrainConfig.from_dict([("max_steps", 3)])


def test_replace_validates_again():
    with pytest.raises(ConfigError, match="batch_size"):
        TrainConfig().replace(batch_size=0)


# --- schedule ------------------------------------------------------------------------------


def test_schedule_warms_up_linearly_then_decays_by_cosine_to_the_floor():
    def lr(step):
        return learning_rate_at(step, peak_lr=1e-3, min_lr=1e-4, warmup_steps=10,
                                decay_steps=110)

    assert [round(lr(s), 10) for s in (0, 4, 9)] == [1e-4, 5e-4, 1e-3]
    assert lr(10) == pytest.approx(1e-3)  # the top of the cosine
    assert lr(60) == pytest.approx(5.5e-4)  # half-way: the midpoint of peak and floor
    assert lr(35) == pytest.approx(1e-4 + 9e-4 * 0.5 * (1 + math.cos(math.pi * 0.25)))
    assert lr(110) == lr(10_000) == 1e-4
    values = [lr(s) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(values, values[1:]))  # never goes up after warmup


def test_schedule_without_warmup_starts_at_the_peak():
    assert learning_rate_at(0, peak_lr=2.0, min_lr=0.0, warmup_steps=0, decay_steps=4) == 2.0
    assert learning_rate_at(2, peak_lr=2.0, min_lr=0.0, warmup_steps=0,
                            decay_steps=4) == pytest.approx(1.0)


# --- TrainControl --------------------------------------------------------------------------


def test_control_switches_and_learning_rate():
    control = TrainControl()
    assert not control.paused and not control.stopped and control.learning_rate is None
    control.pause()
    assert control.paused
    assert control.wait_while_paused(timeout=0) is False  # would block while paused
    control.resume()
    assert not control.paused and control.wait_while_paused(timeout=0) is True
    control.set_learning_rate(3e-4)
    assert control.learning_rate == 3e-4
    control.pause()
    control.stop()  # a stop ends a pause, so a waiting trainer wakes up and sees it
    assert control.stopped and not control.paused and control.wait_while_paused(timeout=0)


@pytest.mark.parametrize("bad", [0, -1e-3, math.inf, "fast", True, 2.0])
def test_control_refuses_impossible_learning_rates(bad):
    with pytest.raises(ConfigError, match="learning rate"):
        TrainControl().set_learning_rate(bad)


# --- events --------------------------------------------------------------------------------



def test_events_round_trip_through_json_dicts_with_nan_as_null():
    events = [
        StepEvent(step=3, loss=math.nan, lr=1e-3, grad_norm=math.inf, tokens_per_sec=10.0,
                  tokens_seen=30, elapsed=1.0, eta=2.0, max_steps=9, step_time=0.1,
                  skipped=True),
        EvalEvent(step=3, train_loss=1.0, val_loss=2.0, train_ppl=math.e, val_ppl=7.4,
                  train_bpb=1.4, val_bpb=2.9, best=True),
        SampleEvent(step=3, prompt="\n", text="Hello"),
        StatusEvent("paused", "Paused at step 3.", 3),
        WarningEvent(step=3, message="skipped"),
    ]
    for event in events:
        d = event_to_dict(event)
        assert all(not (isinstance(v, float) and not math.isfinite(v)) for v in d.values())
        back = event_from_dict(d)
        assert type(back) is type(event)
        for key, value in vars(event).items():
            got = getattr(back, key)
            assert got == value or (math.isnan(got) and not math.isfinite(value)), key
    assert event_to_dict(events[0])["loss"] is None
    assert event_from_dict({"event": "nope"}) is None
    assert event_from_dict({"event": "sample", "step": 1}) is None  # fields missing
    assert event_from_dict({"event": "warning", "step": 1, "message": "m", "new": 1}) == \
        WarningEvent(1, "m")  # newer files with extra fields still load


# --- AdamW groups --------------------------------------------------------------------------


def test_gpt_decays_only_its_weight_matrices():
    model = build_model(from_preset("nano", vocab_size=50))
    groups = param_groups(model, 0.1)
    decayed = {id(p) for p in groups[0]["params"]}
    names = {id(p): n for n, p in model.named_parameters()}
    assert groups[0]["weight_decay"] == 0.1 and groups[1]["weight_decay"] == 0.0
    expected = {id(p) for n, p in model.named_parameters()
                if p.dim() == 2 and "wte" not in n and "wpe" not in n}
    assert decayed == expected
    for pid in {id(p) for p in groups[1]["params"]}:
        name = names[pid]
        assert name.endswith("bias") or "ln" in name or "wte" in name or "wpe" in name, name
    # Every parameter is in exactly one group (the tied LM head once, as the embedding).
    all_ids = [id(p) for g in groups for p in g["params"]]
    assert sorted(all_ids) == sorted(names)


def test_fallback_grouping_for_models_without_param_groups():
    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.norm = nn.LayerNorm(4)
            self.proj = nn.Linear(4, 4)

    toy = Toy()
    decay, no_decay = param_groups(toy, 0.5)
    assert [id(p) for p in decay["params"]] == [id(toy.proj.weight)]
    assert {id(p) for p in no_decay["params"]} == {
        id(toy.emb.weight), id(toy.norm.weight), id(toy.norm.bias), id(toy.proj.bias)}
    assert decay["weight_decay"] == 0.5 and no_decay["weight_decay"] == 0.0


def test_weight_decay_is_decoupled_and_skips_no_decay_parameters():
    class Toy(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(3, 2)
            self.proj = nn.Linear(2, 2)

    toy = Toy()
    before = {n: p.detach().clone() for n, p in toy.named_parameters()}
    opt = build_optimizer(toy, learning_rate=0.1, weight_decay=0.5)
    for p in toy.parameters():
        p.grad = torch.zeros_like(p)  # zero gradient: only decay can move a weight
    opt.step()
    # Decoupled decay: w <- w - lr * wd * w, independent of the (zero) gradient.
    assert torch.allclose(toy.proj.weight, before["proj.weight"] * (1 - 0.1 * 0.5))
    assert torch.equal(toy.emb.weight, before["emb.weight"])
    assert torch.equal(toy.proj.bias, before["proj.bias"])


# --- precision and compile choices ---------------------------------------------------------


def test_precision_auto_follows_native_bf16_support(monkeypatch):
    import gptstudio.core.train.precision as precision

    cpu = torch.device("cpu")
    assert precision.resolve_precision("fp32", cpu) == "fp32"
    assert precision.resolve_precision("bf16", cpu) == "bf16"
    monkeypatch.setattr(precision, "has_fast_bf16", lambda device: True)
    assert precision.resolve_precision("auto", cpu) == "bf16"
    monkeypatch.setattr(precision, "has_fast_bf16", lambda device: False)
    assert precision.resolve_precision("auto", cpu) == "fp32"
    with pytest.raises(ConfigError, match="precision"):
        precision.resolve_precision("fp8", cpu)
    with pytest.raises(ConfigError, match="not available on meta"):
        precision.resolve_precision("bf16", torch.device("meta"))


def test_compile_auto_is_off_and_autocast_is_bf16_only_when_asked():
    from gptstudio.core.train.precision import autocast_factory, resolve_compile

    cpu = torch.device("cpu")
    assert resolve_compile("auto", cpu) is False and resolve_compile("on", cpu) is True
    with pytest.raises(ConfigError, match="compile"):
        resolve_compile("maybe", cpu)
    with autocast_factory("bf16", cpu)():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast_factory("fp32", cpu)():
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
