"""Device selection, the per-device policy, memory checks and out-of-memory errors (CPU only).

What a GPU would do is reached by monkeypatching torch's probes (`torch.cuda.is_available`,
`device_count`, `is_bf16_supported`, `mem_get_info`); nothing here allocates on a GPU. The tests
that do need one are in test_device_cuda.py (marked, skipped without one).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gptstudio.core.errors import ConfigError, TrainingError
from gptstudio.core.model import GPTConfig, build_model, from_preset
from gptstudio.core.train import TrainConfig, Trainer
from gptstudio.core.train.device import (
    DevicePolicy,
    check_fits_device,
    device_policy,
    out_of_memory_message,
    resolve_device,
)
from gptstudio.core.train.run import Run
from tests.tiny_runs import one_thread, word_salad_splits  # noqa: F401

WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran"]


def fake_gpus(monkeypatch, n: int, *, bf16: bool = True, free: int = 80 << 30) -> None:
    """Make torch report `n` CUDA GPUs (nothing is allocated on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: n > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: n)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: bf16)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: "Fake GPU")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (free, 80 << 30))


def no_mps(monkeypatch) -> None:
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


# --- choosing the device ----------------------------------------------------------------------


def test_auto_prefers_cuda_then_mps_then_cpu(monkeypatch):
    fake_gpus(monkeypatch, 2)
    assert resolve_device("auto") == torch.device("cuda", 0)
    assert resolve_device("auto", local_rank=1) == torch.device("cuda", 1)  # torchrun's rank
    fake_gpus(monkeypatch, 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")
    no_mps(monkeypatch)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device("cpu") == torch.device("cpu")


def test_cuda_asked_for_but_absent_says_what_to_do(monkeypatch):
    fake_gpus(monkeypatch, 0)
    with pytest.raises(ConfigError, match=r"CUDA GPU was asked for \(cuda\).*--device cpu"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="--device cpu"):
        resolve_device("cuda:1")


def test_cuda_index_is_checked_against_the_gpus_there(monkeypatch):
    fake_gpus(monkeypatch, 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(ConfigError, match=r"cuda:2 was asked for, but this machine has 2 CUDA "
                                          r"GPUs \(cuda:0 \.\. cuda:1\)"):
        resolve_device("cuda:2")
    with pytest.raises(ConfigError, match="Under torchrun each process uses its own GPU"):
        resolve_device("cuda:1", local_rank=0)


def test_mps_asked_for_but_absent(monkeypatch):
    no_mps(monkeypatch)
    with pytest.raises(ConfigError, match=r"mps.*--device cpu or auto"):
        resolve_device("mps")


@pytest.mark.parametrize("spec", ["gpu", "CUDA", "cuda:", "cuda:x", "", "tpu", None])
def test_malformed_specs_are_refused(spec):
    with pytest.raises(ConfigError, match="device must be auto, cpu, cuda, cuda:N or mps"):
        resolve_device(spec)
    with pytest.raises(ConfigError, match="device must be"):
        TrainConfig(device=spec)


def test_train_config_keeps_its_device_and_old_configs_read_as_auto():
    assert TrainConfig(device="cuda:3").device == "cuda:3"  # syntax only: checked when used
    old = TrainConfig().to_dict()
    del old["device"]  # a run saved before the field existed
    assert TrainConfig.from_dict(old).device == "auto"


# --- the policy of each device ----------------------------------------------------------------


def test_cuda_policy_bf16_where_native_else_fp16_with_a_scaler(monkeypatch):
    fake_gpus(monkeypatch, 1, bf16=True)
    gpu = torch.device("cuda", 0)
    policy = device_policy(gpu)
    assert (policy.precision, policy.grad_scaler, policy.tf32, policy.pin_memory,
            policy.fused_adamw) == ("bf16", False, True, True, True)
    fake_gpus(monkeypatch, 1, bf16=False)  # e.g. a T4 or V100
    policy = device_policy(gpu)
    assert (policy.precision, policy.grad_scaler) == ("fp16", True)
    with pytest.raises(ConfigError, match="no native bf16; use fp16"):
        device_policy(gpu, precision="bf16")
    assert device_policy(gpu, precision="fp32").precision == "fp32"


def test_compile_is_on_by_default_on_cuda_only_where_triton_is(monkeypatch):
    import importlib.util

    fake_gpus(monkeypatch, 1)
    gpu = torch.device("cuda", 0)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name == "triton" else real(name, *a))
    assert device_policy(gpu).compile is True
    assert device_policy(gpu, compile="off").compile is False
    assert device_policy(torch.device("cpu")).compile is False  # the CPU's rule: off
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "triton" else real(name, *a))
    assert device_policy(gpu).compile is False


def test_cpu_policy_copies_nothing_and_refuses_fp16():
    cpu = torch.device("cpu")
    policy = device_policy(cpu, precision="fp32")
    assert (policy.precision, policy.tf32, policy.pin_memory, policy.grad_scaler) == \
        ("fp32", False, False, False)
    batch = (torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3, dtype=torch.long))
    moved = policy.to_device(batch)
    assert all(a is b for a, b in zip(moved, batch))
    with pytest.raises(ConfigError, match="fp16 autocast is for GPUs"):
        device_policy(cpu, precision="fp16")


def test_mps_policy_is_fp32_unless_asked():
    policy = device_policy(torch.device("mps"))
    assert (policy.precision, policy.fused_adamw, policy.pin_memory) == ("fp32", True, False)


# --- memory -----------------------------------------------------------------------------------


def test_a_model_too_big_for_the_gpu_is_refused_naming_it(monkeypatch):
    fake_gpus(monkeypatch, 1, free=1 << 30)  # 1 GiB free
    config = from_preset("gpt2-xl")
    with pytest.raises(ConfigError, match=r"On CUDA 0: Fake GPU: This model.*only 1\.0 GB of "
                                          r"memory is free.*grad_accum"):
        check_fits_device(config, 8, torch.device("cuda", 0))
    fake_gpus(monkeypatch, 1, free=1 << 40)
    assert check_fits_device(config, 1, torch.device("cuda", 0)).n_params > 1e9


def test_the_trainer_refuses_before_moving_the_model(monkeypatch, data):
    tok, train, val = data
    fake_gpus(monkeypatch, 1, free=1 << 10)  # 1 KiB: nothing fits
    model = tiny_model(tok)
    with pytest.raises(ConfigError, match="On CUDA 0: Fake GPU"):
        Trainer(model, tok, train, val, tiny_config(device="cuda"))
    assert next(model.parameters()).device.type == "cpu"  # never moved


def test_out_of_memory_message_says_what_to_change():
    text = out_of_memory_message(torch.device("cpu"), step=41, batch_size=32, grad_accum=1,
                                 block_size=256, checkpoint="/runs/a/checkpoints/step-00000040")
    assert "ran out of memory at step 42 (batch size 32 x block_size 256)" in text
    assert "--set batch_size=16 --set grad_accum=2" in text  # the same tokens per step
    assert "The last checkpoint is intact: /runs/a/checkpoints/step-00000040" in text


def test_out_of_memory_mid_run_is_a_clear_error_and_the_checkpoint_survives(tmp_path, data):
    tok, train, val = data
    config = tiny_config(max_steps=6, checkpoint_interval=2)
    model = tiny_model(tok)
    run = Run.create(tmp_path / "run", model.config, config, {"corpus": "test"}, tok)
    trainer = Trainer(model, tok, train, val, config, run=run)
    real_forward = model.forward

    def forward(*args, **kwargs):
        if trainer.step == 3 and model.training:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(*args, **kwargs)

    model.forward = forward
    with pytest.raises(TrainingError, match=r"ran out of memory at step 4 .*grad_accum.*"
                                            r"checkpoint is intact: .*step-00000002"):
        for _ in trainer.events():
            pass
    from gptstudio.core.train import load_checkpoint

    loaded = load_checkpoint(run.path, tiny_model(tok), tokenizer=tok)
    assert loaded.step == 2  # the last checkpoint loads, whole
    failed = [e for e in run.read_metrics() if getattr(e, "state", None) == "failed"]
    assert failed and "ran out of memory" in failed[-1].message


# --- fp16 with a gradient scaler (the path of GPUs without bf16), run on the CPU ----------------


def test_fp16_with_a_gradient_scaler_trains_like_fp32(monkeypatch, data):
    """The scaler path: losses scaled for backward, gradients unscaled before clipping, so the
    run follows fp32's closely (fp16 autocast runs on the CPU too, slowly; only tests force it)."""
    tok, train, val = data
    losses = {}
    for precision in ("fp32", "fp16"):
        policy = DevicePolicy(torch.device("cpu"), precision, compile=False,
                              grad_scaler=precision == "fp16")
        monkeypatch.setattr("gptstudio.core.train.placement.device_policy",
                            lambda device, precision=None, compile=None, p=policy: p)
        trainer = Trainer(tiny_model(tok), tok, train, val, tiny_config(max_steps=12))
        steps = [e for e in trainer.events() if type(e).__name__ == "StepEvent"]
        assert not any(e.skipped for e in steps[3:])
        losses[precision] = np.array([e.loss for e in steps])
        if precision == "fp16":
            assert trainer._scaler is not None and trainer._scaler.get_scale() > 1
    assert losses["fp16"][-1] < losses["fp16"][0] - 0.3  # it learns
    np.testing.assert_allclose(losses["fp16"][-3:], losses["fp32"][-3:], atol=0.05)


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data():
    return word_salad_splits(WORDS, seed=0, n_words=3000)


def tiny_model(tok) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(GPTConfig(tok.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=32))


def tiny_config(**changes) -> TrainConfig:
    base = dict(max_steps=4, batch_size=8, learning_rate=3e-3, min_lr=3e-4, warmup_steps=2,
                eval_interval=0, eval_iters=2, sample_interval=0, checkpoint_interval=0,
                precision="fp32", device="cpu")
    return TrainConfig(**{**base, **changes})


def test_an_op_missing_on_mps_is_explained_and_other_errors_are_not():
    from gptstudio.core.train.device import device_failure_message

    context = dict(step=0, batch_size=4, grad_accum=1, block_size=8, checkpoint=None)
    missing = NotImplementedError("The operator 'aten::foo' is not currently implemented")
    text = device_failure_message(missing, torch.device("mps"), **context)
    assert "PYTORCH_ENABLE_MPS_FALLBACK=1" in text and "aten::foo" in text
    assert device_failure_message(missing, torch.device("cpu"), **context) is None
    assert device_failure_message(ValueError("bug"), torch.device("cuda", 0), **context) is None
