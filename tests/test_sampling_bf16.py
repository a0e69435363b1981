"""bf16 inference weights (`core.inference_precision`): the copy, and its agreement with fp32.

The agreement check trains a small model on every bundled corpus (by character) and compares
bf16's greedy choices with fp32's: they agree almost everywhere, and where they differ, fp32
itself was nearly undecided (the two candidates' probabilities within a hair of each other).
"""

from __future__ import annotations

import pytest
import torch

from gptstudio.core.corpora import BUILTIN_CORPORA, load_builtin
from gptstudio.core.errors import ConfigError
from gptstudio.core.inference_precision import compare_precisions, inference_model
from gptstudio.core.model import LSTMConfig, build_model, from_preset
from gptstudio.core.sampling import SamplingConfig, _ContextReader, generate, stream_tokens
from gptstudio.core.tokenizers import CharTokenizer
from tests.test_sampling import TOK, tiny_gpt
from tests.tiny_runs import one_thread  # noqa: F401 - fixture


def test_fp32_is_the_model_itself_and_bf16_a_separate_copy():
    torch.manual_seed(0)
    model = build_model(from_preset("gpt2", n_layer=2, n_head=2, n_embd=32, block_size=16,
                                    vocab_size=257)).eval()
    assert inference_model(model, "fp32") is model
    half = inference_model(model, "bf16")
    params = dict(half.named_parameters(remove_duplicate=False))
    assert all(p.dtype == torch.bfloat16 and p.is_contiguous() for p in params.values())
    assert half.lm_head.weight is half.transformer.wte.weight  # the tie survives
    assert not model.lm_head.weight.is_contiguous()  # the fp32 model keeps its layout
    for name, p in model.named_parameters():
        assert params[name].shape == p.shape
        torch.testing.assert_close(params[name].float(), p.detach(), rtol=1e-2, atol=1e-3)
        assert p.dtype == torch.float32  # the original is untouched
    x = torch.tensor([TOK.encode("Hello there")])
    with torch.no_grad():
        torch.testing.assert_close(half(x).logits.float(), model(x).logits, rtol=0, atol=0.05)
    text = generate(half, TOK, "Hi", SamplingConfig(max_new_tokens=8, seed=0))
    assert len(text) > 0  # the KV cache and sampling work in bf16


def test_a_prompt_is_read_in_fp32_and_one_position_in_bf16(monkeypatch):
    from gptstudio.core import inference_precision

    torch.manual_seed(2)
    model = tiny_gpt(block_size=16)
    monkeypatch.setattr(inference_precision, "has_fast_bf16", lambda device: False)
    half = inference_model(model, "bf16")
    layer = half.transformer.h[0].mlp.c_fc
    assert isinstance(layer, inference_precision.PromptInFP32Linear)
    x = torch.randn(1, 5, 32).to(torch.bfloat16)
    expected = torch.nn.functional.linear(x.float(), layer.weight.float(),
                                          None if layer.bias is None else layer.bias.float())
    assert torch.equal(layer(x), expected.to(torch.bfloat16))  # the prompt: fp32 maths
    one = x[:, :1]
    assert torch.equal(layer(one), torch.nn.functional.linear(one, layer.weight, layer.bias))
    assert set(half.state_dict()) == set(model.state_dict())
    monkeypatch.setattr(inference_precision, "has_fast_bf16", lambda device: True)
    assert type(inference_model(model, "bf16").transformer.h[0].mlp.c_fc) is not \
        inference_precision.PromptInFP32Linear  # native bf16: nothing to gain


def test_a_bf16_model_keeps_its_kv_cache_in_fp32_and_decodes_as_rereading_does():
    torch.manual_seed(1)
    half = inference_model(tiny_gpt(block_size=16), "bf16")
    reader = _ContextReader(half, use_cache=True)
    reader.start([1, 2, 3])
    assert reader.cache.keys.dtype == torch.float32  # attention runs in fp32 anyway
    kwargs = dict(temperature=0, max_new_tokens=30, stop_at_eot=False)  # past a refill too
    cached = [e.id for e in stream_tokens(half, TOK, "The", SamplingConfig(**kwargs))]
    plain = [e.id for e in stream_tokens(half, TOK, "The", SamplingConfig(use_cache=False,
                                                                        **kwargs))]
    assert cached == plain


def test_bf16_is_refused_for_an_lstm_and_unknown_precisions():
    lstm = build_model(LSTMConfig(vocab_size=257, n_embd=8, n_hidden=8, n_layer=1))
    with pytest.raises(ConfigError, match="GPT models"):
        inference_model(lstm, "bf16")
    with pytest.raises(ConfigError, match="fp32 or bf16"):
        inference_model(tiny_gpt(), "fp16")


def _trained_on(name: str, steps: int = 200):
    text = load_builtin(name).text[:200_000]
    tok = CharTokenizer.from_text(text)
    ids = torch.tensor(tok.encode(text, allowed_special="all"))
    torch.manual_seed(0)
    model = build_model(from_preset("nano", vocab_size=tok.vocab_size))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    draws = torch.Generator().manual_seed(0)
    block = model.config.block_size
    for _ in range(steps):
        starts = torch.randint(len(ids) - block - 1, (16,), generator=draws)
        x = torch.stack([ids[s:s + block] for s in starts])
        y = torch.stack([ids[s + 1:s + block + 1] for s in starts])
        loss = model(x, y).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), tok, text


@pytest.mark.parametrize("name", [
    n if n == "fables" else pytest.param(n, marks=pytest.mark.slow) for n in BUILTIN_CORPORA])
def test_greedy_bf16_agrees_with_fp32_on_the_bundled_corpora(name):
    model, tok, text = _trained_on(name)
    report = compare_precisions(model, inference_model(model, "bf16"), tok, text[-20_000:],
                                n_windows=16, n_prompts=8, new_tokens=32)
    assert report.n_positions == 16 * model.config.block_size
    assert report.top1_rate >= 0.98, report
    # Where they differ, fp32's own two candidates were within 2 percentage points.
    assert report.max_margin < 0.02, report
    assert report.greedy_tokens == 8 * 32 and report.greedy_rate >= 0.75, report
