"""Gradient clipping: the step's reported norm is the norm before clipping, and the optimizer
receives gradients scaled down to `grad_clip` exactly (or untouched when the norm is below it,
or clipping is off). The oracle: AdamW's first moment after one step is (1 - beta1) * gradient."""

from __future__ import annotations

import math

import pytest
import torch

from gptstudio.core.model import build_model, from_preset
from gptstudio.core.train import StepEvent, TrainConfig, Trainer
from tests.tiny_runs import one_thread, word_salad_splits  # noqa: F401 - one_thread is active

WORDS = "a cat and a dog sat by the old red door of the house".split()


@pytest.fixture(scope="module")
def data():
    return word_salad_splits(WORDS, seed=3, n_words=2000)


def _first_step(data, grad_clip: float):
    tok, train, val = data
    torch.manual_seed(0)
    model = build_model(from_preset("nano", vocab_size=tok.vocab_size, block_size=16))
    config = TrainConfig(max_steps=1, batch_size=4, warmup_steps=0, eval_interval=0,
                         eval_iters=1, sample_interval=0, checkpoint_interval=0,
                         precision="fp32", compile="off", grad_clip=grad_clip)
    trainer = Trainer(model, tok, train, val, config)
    step = next(e for e in trainer.events() if isinstance(e, StepEvent))
    moments = [s["exp_avg"] for s in trainer.optimizer.state_dict()["state"].values()]
    applied = math.sqrt(sum(float(m.double().pow(2).sum()) for m in moments)) / (1 - 0.8)
    assert config.beta1 == 0.8
    return step.grad_norm, applied


def test_a_large_gradient_is_scaled_to_the_clip_and_reported_before_clipping(data):
    norm, _ = _first_step(data, 0.0)
    clip = norm / 4  # well below the step's own norm
    reported, applied = _first_step(data, clip)
    assert reported == pytest.approx(norm, rel=1e-6)  # the norm before clipping
    assert applied == pytest.approx(clip, rel=1e-4)


@pytest.mark.parametrize("clip", [0.0, "above"])
def test_a_gradient_below_the_clip_or_with_clipping_off_is_applied_as_it_is(data, clip):
    norm, _ = _first_step(data, 0.0)
    reported, applied = _first_step(data, 0.0 if clip == 0.0 else norm * 10)
    assert reported == pytest.approx(norm, rel=1e-6)
    assert applied == pytest.approx(norm, rel=1e-4)
