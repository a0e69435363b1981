"""core.inspect: attention maps against a plain recomputation, and weight snapshots round-trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gptstudio.core.errors import ConfigError
from gptstudio.core.inspect import (
    AttentionMaps,
    WeightsSnapshot,
    attention_maps,
    model_from_snapshot,
    snapshot_weights,
)
from gptstudio.core.model import GPTConfig, LSTMConfig, build_model
from gptstudio.core.tokenizers import CharTokenizer
from gptstudio.core.train import build_optimizer

TEXT = "the cat sat on the mat.\n<|endoftext|>"
TOK = CharTokenizer.from_text(TEXT.replace("<|endoftext|>", ""), special_tokens=["<|endoftext|>"])


def gpt(tie: bool = False, dropout: float = 0.1, block_size: int = 16, seed: int = 0):
    torch.manual_seed(seed)
    cfg = GPTConfig(vocab_size=TOK.vocab_size, block_size=block_size, n_layer=2, n_head=4,
                    n_embd=32, dropout=dropout, tie_weights=tie)
    return build_model(cfg)


def lstm(seed: int = 0):
    torch.manual_seed(seed)
    return build_model(LSTMConfig(vocab_size=TOK.vocab_size, n_embd=16, n_hidden=24, n_layer=2))


def plain_attention_of_layer_0(model, ids: list[int]) -> torch.Tensor:
    """Layer 0's weights by the textbook formula, from the model's own parameters."""
    with torch.no_grad():
        idx = torch.tensor([ids])
        x = model.transformer.wte(idx) + model.transformer.wpe(torch.arange(len(ids)))
        block = model.transformer.h[0]
        q, k, _ = block.attn.c_attn(block.ln_1(x)).split(model.config.n_embd, dim=2)
        n_head, hs = model.config.n_head, model.config.head_dim
        q = q.view(1, len(ids), n_head, hs).transpose(1, 2)  # (1, nh, T, hs)
        k = k.view(1, len(ids), n_head, hs).transpose(1, 2)
        scores = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (1, nh, T, T)
        future = torch.ones(len(ids), len(ids), dtype=torch.bool).triu(1)
        return torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)[0]


# --- attention -------------------------------------------------------------------------------


def test_attention_maps_match_a_plain_recomputation_and_the_models_own_forward():
    model = gpt().train()
    prompt = "the cat sat"
    maps = attention_maps(model, TOK, prompt, step=7)
    ids = TOK.encode(prompt)
    assert isinstance(maps, AttentionMaps) and maps.step == 7
    assert maps.token_ids == tuple(ids) and maps.tokens == tuple(prompt)
    assert maps.n_layer == 2 and maps.n_head == 4
    assert all(w.dtype == np.float32 and w.shape == (4, len(ids), len(ids)) for w in maps.weights)
    np.testing.assert_allclose(maps.weights[0], plain_attention_of_layer_0(model, ids).numpy(),
                               rtol=1e-5, atol=1e-6)
    model.eval()
    with torch.no_grad():
        own = model(torch.tensor([ids]), return_attn=True).attentions
    for layer, weights in enumerate(maps.weights):
        np.testing.assert_array_equal(weights, own[layer][0].numpy())


def test_attention_rows_sum_to_one_and_never_look_ahead():
    maps = attention_maps(gpt(), TOK, "on the mat.")
    for weights in maps.weights:
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, rtol=1e-5)
        T = weights.shape[-1]
        assert not weights[:, np.triu_indices(T, k=1)[0], np.triu_indices(T, k=1)[1]].any()
        assert (weights >= 0).all()


def test_a_long_prompt_is_cropped_to_its_last_block_size_tokens():
    model = gpt(block_size=8)
    prompt = "the cat sat on the mat."
    maps = attention_maps(model, TOK, prompt)
    assert maps.token_ids == tuple(TOK.encode(prompt)[-8:]) and len(maps.tokens) == 8
    assert maps.weights[0].shape == (4, 8, 8)


def test_special_tokens_in_the_prompt_are_read_as_such():
    maps = attention_maps(gpt(), TOK, "mat<|endoftext|>the")
    assert TOK.eot_id in maps.token_ids and "<|endoftext|>" in maps.tokens


def test_the_mode_is_restored_and_the_global_rng_is_untouched():
    model = gpt(dropout=0.5)
    for training in (True, False):
        model.train(training)
        before = torch.get_rng_state()
        first = attention_maps(model, TOK, "the cat")
        assert torch.equal(torch.get_rng_state(), before)
        assert model.training is training
        # No dropout: the same weights every time, in either mode.
        again = attention_maps(model, TOK, "the cat")
        assert all(np.array_equal(a, b) for a, b in zip(first.weights, again.weights))


def test_the_maps_are_copies():
    model = gpt()
    maps = attention_maps(model, TOK, "the cat")
    kept = [w.copy() for w in maps.weights]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    attention_maps(model, TOK, "the cat")
    assert all(np.array_equal(a, b) for a, b in zip(kept, maps.weights))


def test_the_lstm_and_empty_prompts_are_refused_with_a_sentence():
    with pytest.raises(ConfigError, match="The LSTM baseline has no attention to show"):
        attention_maps(lstm(), TOK, "the cat")
    with pytest.raises(ConfigError, match="no tokens"):
        attention_maps(gpt(), TOK, "")


# --- weights ---------------------------------------------------------------------------------


def logits(model, ids=(1, 2, 3, 4, 5, 6)) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(torch.tensor([list(ids)])).logits


@pytest.mark.parametrize("make", [lambda: gpt(tie=False), lambda: gpt(tie=True), lstm],
                         ids=["gpt-untied", "gpt-tied", "lstm"])
def test_a_model_rebuilt_from_a_snapshot_gives_the_same_logits(make):
    model = make()
    snapshot = snapshot_weights(model, step=12)
    assert isinstance(snapshot, WeightsSnapshot) and snapshot.step == 12
    assert snapshot.model_config == model.config
    assert snapshot.state.keys() == model.state_dict().keys()
    assert all(a.dtype == np.float32 and a.flags.c_contiguous for a in snapshot.state.values())
    rebuilt = snapshot.to_model()
    assert rebuilt is not model and not rebuilt.training
    assert next(rebuilt.parameters()).device.type == "cpu"
    assert torch.equal(logits(rebuilt), logits(model))
    # Independent memory: no tensor of the rebuilt model is one of the original's.
    ours = {p.data_ptr() for p in model.parameters()}
    assert not ours & {p.data_ptr() for p in rebuilt.parameters()}


def test_a_tied_head_stays_tied_and_keeps_its_layout():
    model = gpt(tie=True)
    snapshot = snapshot_weights(model, 0)
    # One array under both names, as the state dict has one tensor under both.
    assert snapshot.state["lm_head.weight"] is snapshot.state["transformer.wte.weight"]
    assert snapshot.n_params == sum(p.numel() for p in model.parameters())
    rebuilt = model_from_snapshot(snapshot)
    assert rebuilt.lm_head.weight is rebuilt.transformer.wte.weight
    assert rebuilt.lm_head.weight.stride() == model.lm_head.weight.stride()
    untied = model_from_snapshot(snapshot_weights(gpt(tie=False), 0))
    assert untied.lm_head.weight is not untied.transformer.wte.weight


def test_rebuilding_a_model_does_not_draw_from_the_global_rng():
    snapshots = [snapshot_weights(gpt(tie=True), 0), snapshot_weights(lstm(), 0)]
    before = torch.get_rng_state()
    for snapshot in snapshots:
        model_from_snapshot(snapshot)
    assert torch.equal(torch.get_rng_state(), before)


def test_a_snapshot_is_a_copy_that_training_does_not_change():
    model = gpt().train()
    # The engine's optimizer keeps parameters as views into one flat buffer: copy them too.
    optimizer = build_optimizer(model, learning_rate=1e-2, weight_decay=0.1, betas=(0.9, 0.95))
    snapshot = snapshot_weights(model, 0)
    kept = {k: v.copy() for k, v in snapshot.state.items()}
    before = logits(model)
    model.train()
    ids = torch.randint(0, TOK.vocab_size, (4, 16))
    for _ in range(3):
        model(ids, ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    assert not torch.equal(logits(model), before)  # it did train
    assert all(np.array_equal(kept[k], snapshot.state[k]) for k in kept)
    assert torch.equal(logits(snapshot.to_model()), before)
