"""Checkpoints of fp16 and GPU runs: the GradScaler's state and the GPU's RNG state go into the
training state and come back (the CPU-visible part; tests/test_device_cuda.py trains on a GPU).
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from gptstudio.core.errors import CheckpointError
from gptstudio.core.model import GPTConfig, build_model
from gptstudio.core.tokenizers import CharTokenizer
from gptstudio.core.train import TrainConfig, Trainer
from gptstudio.core.train.device import DevicePolicy
from gptstudio.core.train.state import ResumeState


def _state(**extra) -> ResumeState:
    return ResumeState(step=3, tokens_seen=96, elapsed=1.5, best_val_loss=None,
                       peak_lr_override=None, optimizer={"state": {}, "param_groups": []},
                       rng=torch.get_rng_state(), batcher={"seed": 1}, **extra)


def _through_a_file(d: dict) -> dict:
    buffer = io.BytesIO()
    torch.save(d, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_scaler_and_gpu_rng_states_round_trip_through_a_checkpoint_file():
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0 ** 10, growth_interval=7)
    scaler._lazy_init_scale_growth_tracker(torch.device("cpu"))  # noqa: SLF001 - a used scaler
    scaler.update(new_scale=123.0)
    cuda_rng = torch.randint(0, 256, (816,), dtype=torch.uint8)  # a ByteTensor, as on a GPU
    state = _state(grad_scaler=scaler.state_dict(), cuda_rng=cuda_rng)
    back = ResumeState.from_dict(_through_a_file(state.to_dict()))
    assert back.grad_scaler == scaler.state_dict() and back.grad_scaler["scale"] == 123.0
    assert torch.equal(back.cuda_rng, cuda_rng)
    again = torch.amp.GradScaler("cpu")
    again.load_state_dict(back.grad_scaler)
    assert again.get_scale() == 123.0 and again.get_growth_interval() == 7


def test_a_cpu_state_has_neither_and_older_states_still_load():
    d = _state().to_dict()
    assert "grad_scaler" not in d and "cuda_rng" not in d  # the same file as before
    back = ResumeState.from_dict(_through_a_file(d))
    assert back.grad_scaler is None and back.cuda_rng is None
    with pytest.raises(CheckpointError, match="GradScaler or GPU RNG"):
        ResumeState.from_dict({**d, "cuda_rng": [1, 2, 3]})


def _trainer(tok, ids, max_steps, **kwargs) -> Trainer:
    config = TrainConfig(max_steps=max_steps, batch_size=2, eval_interval=0, sample_interval=0,
                         checkpoint_interval=0, warmup_steps=1, precision="fp32",
                         compile="off", device="cpu")
    torch.manual_seed(0)
    model = build_model(GPTConfig(tok.vocab_size, block_size=8, n_layer=1, n_head=1, n_embd=8))
    return Trainer(model, tok, ids[:400], ids[400:], config, **kwargs)


def test_a_resumed_run_goes_on_with_its_scalers_scale(monkeypatch):
    """A GradScaler whose scale doubles after every good step (growth_interval=1): resumed
    without its state it would start again from 512; with it, it ends where the run in one go
    ends. (On the CPU the policy makes no scaler, so one is made here, as fp16 on a GPU does.)"""
    text = "abcabcabd\n" * 50
    tok = CharTokenizer.from_text(text)
    ids = np.array(tok.encode(text), dtype=np.int64)
    assert "grad_scaler" not in _trainer(tok, ids, 4).train_state()  # fp32: nothing saved
    monkeypatch.setattr(DevicePolicy, "make_grad_scaler", lambda self: torch.amp.GradScaler(
        "cpu", init_scale=512.0, growth_interval=1))
    straight = _trainer(tok, ids, 4)
    list(straight.events())
    first = _trainer(tok, ids, 2)
    list(first.events())
    state = first.train_state()
    assert state["grad_scaler"]["scale"] == 512.0 * 2 ** 2 and "cuda_rng" not in state
    resumed = _trainer(tok, ids, 4, start_state=_through_a_file(state))
    resumed.model.load_state_dict(first.model.state_dict())
    list(resumed.events())
    assert resumed._scaler.get_scale() == straight._scaler.get_scale() == 512.0 * 2 ** 4
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], tensor), name
