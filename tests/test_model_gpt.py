"""The GPT: shapes, loss, both attention paths, the KV cache, weight tying, init, param groups."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gptstudio.core.errors import ConfigError
from gptstudio.core.model import MLP, GPT, GPTConfig, KVCache, build_model, from_preset
from gptstudio.core.train.optimizer import param_groups

CFG = GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=4, n_embd=32)


def make_model(cfg: GPTConfig = CFG, seed: int = 0) -> GPT:
    torch.manual_seed(seed)
    return build_model(cfg).eval()


def test_forward_shapes_and_no_loss_without_targets():
    model = make_model()
    idx = torch.randint(0, 50, (3, 10))
    out = model(idx)
    assert out.logits.shape == (3, 10, 50)
    assert out.loss is None and out.attentions is None and out.state is None


def test_loss_is_cross_entropy_and_ignores_minus_one():
    model = make_model()
    idx = torch.randint(0, 50, (2, 8))
    targets = torch.randint(0, 50, (2, 8))
    out = model(idx, targets)
    expected = torch.nn.functional.cross_entropy(out.logits.reshape(-1, 50), targets.reshape(-1))
    torch.testing.assert_close(out.loss, expected)
    # Masking half the targets: the loss is the mean over the others only.
    masked = targets.clone()
    masked[:, 4:] = -1
    expected = torch.nn.functional.cross_entropy(
        out.logits[:, :4].reshape(-1, 50), targets[:, :4].reshape(-1))
    torch.testing.assert_close(model(idx, masked).loss, expected)


def test_initial_loss_is_near_uniform_guess():
    # GPT-2 init makes the first predictions almost uniform: loss ~ ln(vocab_size).
    model = make_model(GPTConfig(vocab_size=500, block_size=16, n_layer=2, n_head=2, n_embd=32))
    idx = torch.randint(0, 500, (4, 16))
    loss = model(idx, torch.randint(0, 500, (4, 16))).loss.item()
    assert abs(loss - math.log(500)) < 0.1


def test_gpt2_init_scales_residual_projections():
    cfg = GPTConfig(vocab_size=1000, block_size=64, n_layer=8, n_head=4, n_embd=256)
    model = make_model(cfg)
    block = model.transformer.h[0]
    assert block.attn.c_attn.weight.std().item() == pytest.approx(0.02, rel=0.05)
    scaled = 0.02 / math.sqrt(2 * 8)
    assert block.attn.c_proj.weight.std().item() == pytest.approx(scaled, rel=0.05)
    assert block.mlp.c_proj.weight.std().item() == pytest.approx(scaled, rel=0.05)
    assert torch.all(block.attn.c_attn.bias == 0)
    assert torch.all(block.ln_1.weight == 1)


def test_too_long_input_is_refused():
    model = make_model()
    with pytest.raises(ConfigError, match="at most 16 tokens"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_explicit_and_sdpa_attention_agree():
    model = make_model()
    idx = torch.randint(0, 50, (2, 16))
    fast = model(idx)
    explicit = model(idx, return_attn=True)
    torch.testing.assert_close(explicit.logits, fast.logits, atol=1e-5, rtol=1e-5)


def test_attention_weights_are_causal_distributions():
    model = make_model()
    out = model(torch.randint(0, 50, (2, 12)), return_attn=True)
    assert len(out.attentions) == CFG.n_layer
    for weights in out.attentions:
        assert weights.shape == (2, CFG.n_head, 12, 12)
        torch.testing.assert_close(weights.sum(-1), torch.ones(2, CFG.n_head, 12))
        above_diagonal = torch.triu(torch.ones(12, 12, dtype=torch.bool), diagonal=1)
        assert torch.all(weights[..., above_diagonal] == 0)
        assert torch.all(weights[..., ~above_diagonal] > 0)


def test_future_tokens_do_not_change_past_logits():
    model = make_model()
    idx = torch.randint(0, 50, (1, 10))
    changed = idx.clone()
    changed[0, 6:] = (changed[0, 6:] + 1) % 50
    torch.testing.assert_close(model(idx).logits[:, :6], model(changed).logits[:, :6])


@pytest.mark.parametrize("return_attn", [False, True])
def test_kv_cached_incremental_logits_equal_full_forward(return_attn):
    model = make_model()
    idx = torch.randint(0, 50, (2, 16))
    full = model(idx).logits
    cache = model.new_kv_cache(batch_size=2)
    # A 5-token prefill, a 3-token chunk (mask offset by the cache), then one token at a time.
    pieces = [model(idx[:, :5], kv_cache=cache, return_attn=return_attn).logits,
              model(idx[:, 5:8], kv_cache=cache, return_attn=return_attn).logits]
    for t in range(8, 16):
        pieces.append(model(idx[:, t:t + 1], kv_cache=cache, return_attn=return_attn).logits)
    assert cache.length == 16 and cache.remaining == 0
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


def test_cached_attention_rows_cover_the_whole_past():
    model = make_model()
    cache = model.new_kv_cache()
    model(torch.randint(0, 50, (1, 4)), kv_cache=cache)
    out = model(torch.randint(0, 50, (1, 2)), kv_cache=cache, return_attn=True)
    weights = out.attentions[0]
    assert weights.shape == (1, CFG.n_head, 2, 6)
    assert torch.all(weights[..., 0, 5] == 0)  # position 4 cannot see position 5
    assert torch.all(weights[..., 1, :] > 0)


def test_full_cache_and_wrong_batch_are_refused_and_reset_works():
    model = make_model()
    cache = model.new_kv_cache(batch_size=1)
    model(torch.randint(0, 50, (1, 16)), kv_cache=cache)
    with pytest.raises(ConfigError, match="at most 16 tokens"):
        model(torch.randint(0, 50, (1, 1)), kv_cache=cache)
    cache.reset()
    assert cache.length == 0
    with pytest.raises(ConfigError, match="made for batch size 1, not 2"):
        model(torch.randint(0, 50, (2, 3)), kv_cache=cache)


def test_kv_cache_refuses_overflow_directly():
    cache = KVCache(n_layer=1, batch_size=1, n_head=2, max_len=4, head_dim=8)
    cache.check_room(4, 1)
    cache.advance(3)
    with pytest.raises(ConfigError, match="holds 3 of 4 positions and cannot take 2 more"):
        cache.check_room(2, 1)


def test_weight_tying_shares_memory_and_untying_does_not():
    tied = make_model()
    assert tied.lm_head.weight is tied.transformer.wte.weight
    assert tied.lm_head.weight.data_ptr() == tied.transformer.wte.weight.data_ptr()
    untied = make_model(CFG.replace(tie_weights=False))
    assert untied.lm_head.weight.data_ptr() != untied.transformer.wte.weight.data_ptr()
    # A gradient step through the head moves the embedding too when tied.
    before = tied.transformer.wte.weight.detach().clone()
    out = tied(torch.randint(0, 50, (1, 4)), torch.randint(0, 50, (1, 4)))
    out.loss.backward()
    with torch.no_grad():
        tied.lm_head.weight -= 1.0 * tied.lm_head.weight.grad
    assert not torch.equal(tied.transformer.wte.weight, before)


def test_no_bias_config_has_no_biases():
    model = make_model(CFG.replace(bias=False))
    names = [name for name, _ in model.named_parameters()]
    assert not any(name.endswith("bias") for name in names)
    assert model(torch.randint(0, 50, (1, 4))).logits.shape == (1, 4, 50)


@pytest.mark.parametrize("tie", [True, False])
def test_param_groups_split_decay_from_no_decay(tie):
    model = make_model(CFG.replace(tie_weights=tie))
    decay, no_decay = param_groups(model, 0.1)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    ids = lambda params: {id(p) for p in params}  # noqa: E731
    assert ids(decay["params"]).isdisjoint(ids(no_decay["params"]))
    assert ids(decay["params"]) | ids(no_decay["params"]) == ids(model.parameters())
    named = dict(model.named_parameters())
    assert id(named["transformer.wte.weight"]) in ids(no_decay["params"])
    assert id(named["transformer.wpe.weight"]) in ids(no_decay["params"])
    assert id(named["transformer.h.0.ln_1.weight"]) in ids(no_decay["params"])
    assert id(named["transformer.h.0.attn.c_attn.bias"]) in ids(no_decay["params"])
    assert id(named["transformer.h.0.mlp.c_fc.weight"]) in ids(decay["params"])
    if not tie:
        assert id(named["lm_head.weight"]) in ids(decay["params"])
    # usable as-is by torch's AdamW
    torch.optim.AdamW(param_groups(model, 0.1), lr=1e-3)


def test_state_dict_uses_gpt2_names():
    keys = set(make_model().state_dict())
    assert {"transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight",
            "transformer.h.1.attn.c_attn.weight", "transformer.h.1.mlp.c_proj.bias",
            "lm_head.weight"} <= keys


def test_dropout_changes_training_outputs_only():
    model = make_model(CFG.replace(dropout=0.5))
    idx = torch.randint(0, 50, (1, 8))
    torch.testing.assert_close(model(idx).logits, model(idx).logits)  # eval: deterministic
    model.train()
    assert not torch.equal(model(idx).logits, model(idx).logits)


def test_training_step_reduces_loss():
    torch.manual_seed(0)
    model = build_model(from_preset("nano", vocab_size=20, block_size=8))
    opt = torch.optim.AdamW(param_groups(model, 0.0), lr=3e-3)
    idx = torch.randint(0, 20, (4, 8))
    first = None
    for _ in range(20):
        loss = model(idx, idx.roll(-1, dims=1)).loss
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first - 1.0


def test_linear_keeps_gpt2_memory_layout_but_nn_linear_maths():
    from gptstudio.core.model.linear import TransposedLinear

    model = make_model()  # every matrix that multiplies activations is stored (in, out)
    assert not model.lm_head.weight.is_contiguous()
    assert all(not p.is_contiguous() for n, p in model.named_parameters()
               if ".h." in n and p.dim() == 2)
    torch.manual_seed(0)
    layer = TransposedLinear(6, 4)
    assert layer.weight.shape == (4, 6)
    assert not layer.weight.is_contiguous() and layer.weight.t().is_contiguous()
    reference = torch.nn.Linear(6, 4)
    reference.load_state_dict(layer.state_dict())
    x = torch.randn(3, 6)
    torch.testing.assert_close(layer(x), reference(x))
    assert TransposedLinear(6, 4, bias=False).bias is None


def test_model_round_trips_through_safetensors(tmp_path):
    # The tied matrix is stored once; weights are written contiguous (see linear.py).
    from safetensors.torch import load_file, save_file

    model = make_model()
    weights = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    save_file(weights, tmp_path / "model.safetensors")
    fresh = make_model(seed=1)
    loaded = load_file(tmp_path / "model.safetensors")
    loaded["lm_head.weight"] = loaded["transformer.wte.weight"]
    fresh.load_state_dict(loaded, strict=True)
    idx = torch.randint(0, 50, (1, 8))
    torch.testing.assert_close(fresh(idx).logits, model(idx).logits)
    assert fresh.lm_head.weight is fresh.transformer.wte.weight
    assert not fresh.lm_head.weight.is_contiguous()  # loading kept the fast layout


@pytest.mark.parametrize("activation,approximate", [("gelu", "none"), ("gelu_tanh", "tanh")])
def test_mlp_computes_the_configured_gelu(activation, approximate):
    torch.manual_seed(0)
    cfg = GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1, n_embd=8,
                    activation=activation)
    mlp = MLP(cfg)
    x = 3 * torch.randn(4, 8)
    expected = mlp.c_proj(F.gelu(mlp.c_fc(x), approximate=approximate))
    torch.testing.assert_close(mlp(x), expected, rtol=0, atol=0)
    other = "tanh" if approximate == "none" else "none"  # the two forms really differ here
    assert not torch.allclose(mlp(x), mlp.c_proj(F.gelu(mlp.c_fc(x), approximate=other)))
