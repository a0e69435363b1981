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
from gptstudio.core.train import Run, StatusEvent, StepEvent, TrainConfig
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


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_the_apps_models_are_read_on_the_gpu(tmp_path):
    """What the app's InferenceService does on a GPU machine: a checkpoint, and a weight
    snapshot of a live GPU run, read on the GPU give the CPU's attention maps and logits."""
    from gptstudio.core.inspect import attention_maps, snapshot_weights
    from gptstudio.core.train.device import inference_device

    prepared, _ = _train(tmp_path, "cuda", steps=4)
    device, note = inference_device("auto")
    assert device.type == "cuda" and note == ""
    snapshot = snapshot_weights(prepared.model, 4)  # from the GPU model, as the trainer serves
    del prepared
    _, on_gpu, tok = load_trained_model(tmp_path / "run", device="cuda")
    _, on_cpu, _ = load_trained_model(tmp_path / "run", device="cpu")
    assert next(on_gpu.parameters()).device.type == "cuda"
    for gpu_map, cpu_map in zip(attention_maps(on_gpu, tok, "the cat").weights,
                                attention_maps(on_cpu, tok, "the cat").weights):
        torch.testing.assert_close(torch.from_numpy(gpu_map), torch.from_numpy(cpu_map),
                                   atol=1e-3, rtol=1e-3)
    live = snapshot.to_model().to(device)
    ids = torch.tensor([tok.encode("the cat sat")])
    with torch.no_grad():
        torch.testing.assert_close(live(ids.to(device)).logits.cpu(), on_cpu(ids).logits,
                                   atol=1e-3, rtol=1e-3)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_an_fp16_gpu_run_with_dropout_resumes_with_its_scaler_and_gpu_rng(tmp_path):
    """The GradScaler's scale and the GPU's RNG (dropout) are in the checkpoint, so a resumed
    fp16 run continues as the run in one go: same scale, same losses (GPU kernels may differ in
    the last bits, hence a tolerance)."""
    path = tmp_path / "cats.txt"
    path.write_text(TEXT)
    tok = CharTokenizer.from_text(TEXT)
    model_config = GPTConfig(tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=64,
                             dropout=0.1)
    config = TrainConfig(max_steps=8, batch_size=8, eval_interval=0, sample_interval=0,
                         checkpoint_interval=4, learning_rate=3e-3, warmup_steps=2,
                         device="cuda", precision="fp16", compile="off")

    def steps(prepared):
        events = list(prepared.trainer.events())
        return [e.loss for e in events if isinstance(e, StepEvent)], prepared.trainer

    straight, one_go = steps(prepare_new_training(tmp_path / "a", load_corpus(path), tok,
                                                  model_config, config, corpus_spec=str(path)))
    first, _ = steps(prepare_new_training(tmp_path / "b", load_corpus(path), tok, model_config,
                                          config.replace(max_steps=4), corpus_spec=str(path)))
    resumed = prepare_resumed_training(tmp_path / "b", max_steps=8)
    state = resumed.trainer.train_state()
    assert "grad_scaler" in state and "cuda_rng" in state
    rest, again = steps(resumed)
    assert again._scaler.get_scale() == one_go._scaler.get_scale()
    torch.testing.assert_close(torch.tensor(first + rest), torch.tensor(straight),
                               atol=1e-3, rtol=1e-3)
