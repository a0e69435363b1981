"""The decode-only fast path (`core/model/decode.py`) against the plain forward.

Oracle: the plain path (`GPT.fast_decode = False`), which the fast path must reproduce: the same
logits for every new token (fp32 tight; the bf16 copy within a stated tolerance) and, in fp32,
the same greedy tokens, through a cache refill. Plus: the fast path is really taken where it
should be (a spy counts its calls), and never where it would be wrong (LoRA layers, hooks,
training mode, attention maps), where the plain path gives the answer.
"""

from __future__ import annotations

import pytest
import torch

from gptstudio.core.finetune.lora import LoRAConfig, apply_lora
from gptstudio.core.inference_precision import inference_model
from gptstudio.core.model import GPTConfig, build_model
from gptstudio.core.model import gpt as gpt_module
from gptstudio.core.sampling import SamplingConfig, _new_cache, stream_tokens
from tests.test_sampling import TOK
from tests.tiny_runs import one_thread  # noqa: F401 - fixture

# fp32: the same kernels in the same order, so the logits agree to rounding (they are equal).
FP32_ATOL = 1e-6
# bf16 copy: the same bf16 kernels in the same order (measured: equal); allowed 0.05% of the
# logits' spread, below the 0.23% that attending in bf16 rather than fp32 moves them here.
BF16_REL = 5e-4

CONFIGS = {
    "gpt2-like": GPTConfig(vocab_size=257, block_size=24, n_layer=2, n_head=4, n_embd=32),
    "nanogpt-like": GPTConfig(vocab_size=257, block_size=24, n_layer=3, n_head=2, n_embd=16,
                              bias=False, tie_weights=False, activation="gelu"),
}


def model_of(name: str, seed: int = 0):
    torch.manual_seed(seed)
    model = build_model(CONFIGS[name]).eval()
    with torch.no_grad():  # non-zero biases and norms, so each one's use is checked
        for p in model.parameters():
            if p.dim() == 1:
                p.normal_(0.0, 0.5)
    return model


@pytest.fixture
def spy(monkeypatch):
    """Counts the calls of the fast path."""
    calls = []
    real = gpt_module.decode_step

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(gpt_module, "decode_step", counting)
    return calls


def step_logits(model, prompt, tokens, fast: bool, *, cache=None, batch: int = 1):
    """The prompt through the plain path, then each token alone: logits of each step."""
    model.fast_decode = fast
    cache = cache if cache is not None else model.new_kv_cache(batch)
    rows = torch.tensor([prompt] * batch)
    out = []
    with torch.inference_mode():
        model(rows, kv_cache=cache)
        for t in tokens:
            out.append(model(torch.full((batch, 1), t), kv_cache=cache).logits.float())
    del model.fast_decode  # back to the class default
    return torch.cat(out, dim=1), cache


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("batch", [1, 2])
def test_fp32_logits_equal_the_plain_path(name, batch, spy, one_thread):
    model = model_of(name)
    prompt, tokens = [5, 17, 99, 3], [40, 41, 250, 7, 7, 1, 0, 256]
    plain, plain_cache = step_logits(model, prompt, tokens, fast=False, batch=batch)
    assert not spy
    fast, fast_cache = step_logits(model, prompt, tokens, fast=True, batch=batch)
    assert len(spy) == len(tokens)  # every single-token step took the fast path
    torch.testing.assert_close(fast, plain, rtol=0, atol=FP32_ATOL)
    assert fast_cache.length == plain_cache.length == len(prompt) + len(tokens)
    n = fast_cache.length  # and it stored the very keys and values the plain path stores
    torch.testing.assert_close(fast_cache.keys[:, :, :, :n], plain_cache.keys[:, :, :, :n],
                               rtol=0, atol=FP32_ATOL)
    torch.testing.assert_close(fast_cache.values[:, :, :, :n], plain_cache.values[:, :, :, :n],
                               rtol=0, atol=FP32_ATOL)


@pytest.mark.parametrize("cache_dtype", ["sampler's fp32 cache", "model's bf16 cache"])
def test_bf16_copy_logits_match_the_plain_path(cache_dtype, spy, one_thread):
    half = inference_model(model_of("gpt2-like"), "bf16")
    make = (lambda: _new_cache(half)) if cache_dtype.startswith("sampler") \
        else (lambda: half.new_kv_cache(1))
    prompt, tokens = [5, 17, 99, 3], [40, 41, 250, 7, 7, 1]
    plain, _ = step_logits(half, prompt, tokens, fast=False, cache=make())
    fast, _ = step_logits(half, prompt, tokens, fast=True, cache=make())
    assert len(spy) == len(tokens)
    spread = float(plain.max() - plain.min())
    torch.testing.assert_close(fast, plain, rtol=0, atol=BF16_REL * spread)
    assert torch.equal(fast.argmax(-1), plain.argmax(-1))


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_fp32_greedy_generation_is_token_identical(name, spy, one_thread):
    model = model_of(name, seed=3)
    # 60 new tokens in a 24-token context: the cache fills and is refilled several times.
    cfg = SamplingConfig(max_new_tokens=60, temperature=0, stop_at_eot=False)
    model.fast_decode = False
    plain = [(e.id, e.prob, e.alternatives) for e in stream_tokens(model, TOK, "Once", cfg)]
    assert not spy
    model.fast_decode = True
    fast = [(e.id, e.prob, e.alternatives) for e in stream_tokens(model, TOK, "Once", cfg)]
    assert spy  # most steps were single tokens on the fast path
    assert [i for i, _, _ in fast] == [i for i, _, _ in plain]
    assert [p for _, p, _ in fast] == pytest.approx([p for _, p, _ in plain], abs=1e-6)
    assert [[i for i, _, _ in alts] for _, _, alts in fast] == \
        [[i for i, _, _ in alts] for _, _, alts in plain]


def test_sampled_generation_is_the_same_text(spy, one_thread):
    model = model_of("gpt2-like", seed=4)
    cfg = SamplingConfig(max_new_tokens=40, temperature=0.9, top_k=50, seed=11,
                         stop_at_eot=False)
    model.fast_decode = False
    plain = [e.id for e in stream_tokens(model, TOK, "Hi", cfg)]
    model.fast_decode = True
    assert [e.id for e in stream_tokens(model, TOK, "Hi", cfg)] == plain
    assert spy


def test_lora_layers_take_the_plain_path(spy, one_thread):
    model = model_of("gpt2-like")
    torch.manual_seed(1)
    apply_lora(model, LoRAConfig(rank=2))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.3)  # a real update, which the fast path would leave out
    prompt, tokens = [5, 17], [40, 41, 250]
    fast, _ = step_logits(model, prompt, tokens, fast=True)
    assert not spy
    plain, _ = step_logits(model, prompt, tokens, fast=False)
    torch.testing.assert_close(fast, plain, rtol=0, atol=0)


def test_hooks_training_mode_and_attention_maps_take_the_plain_path(spy, one_thread):
    model = model_of("gpt2-like")
    seen = []
    handle = model.transformer.h[1].mlp.register_forward_hook(lambda *a: seen.append(1))
    step_logits(model, [5, 17], [40, 41, 250], fast=True)
    handle.remove()
    assert not spy and len(seen) == 4  # the prompt and each of the three tokens
    cache = _new_cache(model)
    with torch.no_grad():
        model(torch.tensor([[5, 17]]), kv_cache=cache)
        out = model(torch.tensor([[40]]), kv_cache=cache, return_attn=True)
        assert out.attentions is not None and len(out.attentions) == 2
        model.train()
        model(torch.tensor([[41]]), kv_cache=cache)
    assert not spy
    model.eval()
    step_logits(model, [5, 17], [40], fast=True)
    assert len(spy) == 1  # with the hook gone, in eval mode, it is taken again
