"""Tests that need a GPU: marked `cuda` or `mps`, skipped cleanly without one.

They need no Qt (scripts/gpu_check.sh runs them with `-p no:pytest-qt` on a machine without
PySide6). A run trained on the GPU must resume and sample on the CPU: checkpoints hold CPU
tensors whatever the device (device independence, both ways).
"""

from __future__ import annotations

import pytest
import torch

from gptstudio.core.corpora import load_corpus
from gptstudio.core.model import GPTConfig, check_fits, from_preset
from gptstudio.core.pipeline import (
    load_trained_model,
    prepare_new_training,
    prepare_resumed_training,
)
from gptstudio.core.sampling import SamplingConfig, generate
from gptstudio.core.tokenizers import CharTokenizer
from gptstudio.core.train import Run, StatusEvent, TrainConfig
from gptstudio.core.train.device import device_policy, free_memory, resolve_device

needs_cuda = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(),
                                                   reason="needs a CUDA GPU")]
needs_mps = [pytest.mark.mps, pytest.mark.skipif(
    not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()),
    reason="needs an Apple GPU (mps)")]

TEXT = "the cat sat on the mat and the dog ran far away from the cat\n" * 200


def _train(tmp_path, device: str, steps: int = 8):
    path = tmp_path / "cats.txt"  # a file: a resumed run reads its corpus again
    path.write_text(TEXT)
    corpus = load_corpus(path)
    tok = CharTokenizer.from_text(TEXT)
    model_config = GPTConfig(tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=64)
    config = TrainConfig(max_steps=steps, batch_size=8, eval_interval=4, eval_iters=2,
                         sample_interval=4, sample_tokens=20, checkpoint_interval=4,
                         learning_rate=3e-3, warmup_steps=2, device=device, compile="off")
    prepared = prepare_new_training(tmp_path / "run", corpus, tok, model_config, config,
                                    corpus_spec=str(path))
    events = list(prepared.trainer.events())
    return prepared, events


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=needs_cuda),
                                    pytest.param("mps", marks=needs_mps)])
def test_a_gpu_run_trains_there_and_resumes_and_samples_on_the_cpu(tmp_path, device):
    prepared, events = _train(tmp_path, device)
    trainer = prepared.trainer
    assert trainer.device.type == device
    assert all(p.device.type == device for p in prepared.model.parameters())
    started = next(e for e in events if isinstance(e, StatusEvent))
    assert ("CUDA" if device == "cuda" else "MPS") in started.message
    if device == "cuda" and torch.cuda.is_bf16_supported(including_emulation=False):
        assert trainer.precision == "bf16"
    assert events[-1].state == "finished"
    gpu_weights = {k: v.detach().cpu() for k, v in prepared.model.state_dict().items()}
    del prepared, trainer

    # The checkpoint loads on the CPU with the GPU's weights ...
    _, model, tok = load_trained_model(tmp_path / "run", device="cpu")
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, gpu_weights[name])
    assert generate(model, tok, "the ", SamplingConfig(max_new_tokens=10, seed=0))
    # ... and the run resumes there, then back on the GPU.
    run_dir = tmp_path / "run"
    config = Run.open(run_dir).train_config
    on_cpu = prepare_resumed_training(run_dir, train_config=config.replace(device="cpu",
                                                                           max_steps=12))
    assert on_cpu.trainer.device.type == "cpu"
    assert list(on_cpu.trainer.events())[-1].state == "finished"
    del on_cpu
    back = prepare_resumed_training(run_dir, train_config=config.replace(device=device,
                                                                         max_steps=16))
    assert back.trainer.device.type == device and back.start_step == 12
    assert list(back.trainer.events())[-1].state == "finished"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_policy_and_free_memory_are_real():
    gpu = resolve_device("cuda")
    policy = device_policy(gpu)
    assert policy.tf32 and policy.pin_memory and policy.fused_adamw
    x = (torch.arange(6).view(2, 3), torch.arange(6).view(2, 3))
    moved = policy.to_device(x)
    torch.cuda.synchronize()
    assert all(t.device == gpu for t in moved) and torch.equal(moved[0].cpu(), x[0])
    free = free_memory(gpu)
    assert 0 < free <= torch.cuda.get_device_properties(gpu).total_memory
    with pytest.raises(Exception, match="memory is free"):  # far too big for any GPU
        check_fits(from_preset("gpt2-xl", block_size=1024), 4096, free)
