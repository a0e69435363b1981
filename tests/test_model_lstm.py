"""The LSTM baseline: predicts at every position, carries its state, same interface as the GPT."""

from __future__ import annotations

import pytest
import torch

from gptstudio.core.train.optimizer import param_groups

from gptstudio.core.errors import ConfigError
from gptstudio.core.model import LSTMConfig, LSTMLanguageModel, build_model

CFG = LSTMConfig(vocab_size=30, n_embd=16, n_hidden=24, n_layer=2, dropout=0.0, block_size=12)


def make_model(cfg: LSTMConfig = CFG) -> LSTMLanguageModel:
    torch.manual_seed(0)
    return build_model(cfg).eval()


def test_predicts_at_every_position():
    model = make_model()
    idx = torch.randint(0, 30, (3, 12))
    out = model(idx, return_attn=True)
    assert out.logits.shape == (3, 12, 30)
    assert out.attentions is None and out.loss is None
    h, c = out.state
    assert h.shape == c.shape == (2, 3, 24)


def test_loss_uses_every_position_and_ignores_minus_one():
    model = make_model()
    idx = torch.randint(0, 30, (2, 12))
    targets = torch.randint(0, 30, (2, 12))
    out = model(idx, targets)
    expected = torch.nn.functional.cross_entropy(out.logits.reshape(-1, 30), targets.reshape(-1))
    torch.testing.assert_close(out.loss, expected)
    targets[:, :6] = -1
    expected = torch.nn.functional.cross_entropy(
        out.logits[:, 6:].reshape(-1, 30), targets[:, 6:].reshape(-1))
    torch.testing.assert_close(model(idx, targets).loss, expected)


def test_outputs_are_causal():
    model = make_model()
    idx = torch.randint(0, 30, (1, 12))
    changed = idx.clone()
    changed[0, 8] = (changed[0, 8] + 1) % 30
    torch.testing.assert_close(model(idx).logits[:, :8], model(changed).logits[:, :8])
    assert not torch.allclose(model(idx).logits[:, 8:], model(changed).logits[:, 8:])


def test_carried_state_makes_two_halves_equal_the_whole():
    model = make_model()
    idx = torch.randint(0, 30, (2, 12))
    whole = model(idx).logits
    first = model(idx[:, :5])
    second = model(idx[:, 5:], state=first.state)
    torch.testing.assert_close(torch.cat([first.logits, second.logits], dim=1), whole)
    # ...and without the carried state the second half is different.
    assert not torch.allclose(model(idx[:, 5:]).logits, whole[:, 5:])


def test_kv_cache_is_refused_with_a_hint():
    with pytest.raises(ConfigError, match="carry its `state`"):
        make_model()(torch.zeros(1, 2, dtype=torch.long), kv_cache=object())


def test_single_layer_with_dropout_builds_without_warnings(recwarn):
    make_model(CFG.replace(n_layer=1, dropout=0.2))
    assert not [w for w in recwarn if "dropout" in str(w.message)]


def test_param_groups():
    model = make_model()
    decay, no_decay = param_groups(model, 0.05)
    assert any(p is model.embedding.weight for p in no_decay["params"])
    assert any(p is model.head.weight for p in decay["params"])
    assert all(p.dim() == 1 for p in no_decay["params"] if p is not model.embedding.weight)
    total = len(decay["params"]) + len(no_decay["params"])
    assert total == len(list(model.parameters()))


def test_learns_a_repeating_sequence():
    torch.manual_seed(0)
    model = build_model(CFG)
    opt = torch.optim.AdamW(param_groups(model, 0.0), lr=1e-2)
    idx = torch.arange(12).remainder(5).repeat(4, 1)
    for _ in range(60):
        loss = model(idx[:, :-1], idx[:, 1:]).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5
