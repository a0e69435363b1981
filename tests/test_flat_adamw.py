"""FlatAdamW: the same updates as torch's fused AdamW, the same state-dict format, views intact."""

from __future__ import annotations

import copy

import pytest
import torch

from gptstudio.core.model import GPTConfig, build_model
from gptstudio.core.train import build_optimizer
from gptstudio.core.train.flat_adamw import FlatAdamW, can_flatten
from gptstudio.core.train.optimizer import param_groups

CFG = GPTConfig(vocab_size=40, block_size=16, n_layer=2, n_head=2, n_embd=32)  # biases, tied


def pair(seed: int = 0):
    """Two identical models: one with torch's fused AdamW, one with FlatAdamW."""
    torch.manual_seed(seed)
    plain = build_model(CFG)
    flat = copy.deepcopy(plain)
    plain_opt = build_optimizer(plain, learning_rate=1e-2, weight_decay=0.1)
    flat_opt = build_optimizer(flat, learning_rate=1e-2, weight_decay=0.1, flat=True)
    assert isinstance(plain_opt, torch.optim.AdamW) and isinstance(flat_opt, FlatAdamW)
    return plain, plain_opt, flat, flat_opt


def train_steps(model, optimizer, n: int, seed: int = 1) -> list[float]:
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(n):
        x = torch.randint(0, CFG.vocab_size, (4, CFG.block_size), generator=generator)
        loss = model(x[:, :-1], x[:, 1:]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    return losses


def assert_same_weights(a, b):
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name


def test_parameters_keep_their_layout_and_tying_and_gradients_land_in_the_buffer():
    torch.manual_seed(0)
    model = build_model(CFG)
    before = {n: (p.shape, p.stride(), p.detach().clone()) for n, p in model.named_parameters()}
    optimizer = build_optimizer(model, learning_rate=1e-2, weight_decay=0.1, flat=True)
    for name, p in model.named_parameters():
        shape, stride, values = before[name]
        assert (p.shape, p.stride()) == (shape, stride), name
        assert torch.equal(p, values), name
    assert model.lm_head.weight is model.transformer.wte.weight
    x = torch.randint(0, CFG.vocab_size, (2, CFG.block_size))
    model(x[:, :-1], x[:, 1:]).loss.backward()
    flat_grads = torch.cat([f.grad for f in optimizer.flat_params])
    assert flat_grads.abs().sum() > 0
    assert flat_grads.abs().sum() == pytest.approx(
        sum(p.grad.abs().sum().item() for p in model.parameters()), rel=1e-5)


def test_same_updates_as_torch_fused_adamw():
    plain, plain_opt, flat, flat_opt = pair()
    assert train_steps(plain, plain_opt, 5) == train_steps(flat, flat_opt, 5)
    assert_same_weights(plain, flat)


def test_state_dict_has_torchs_format_and_values():
    plain, plain_opt, flat, flat_opt = pair()
    train_steps(plain, plain_opt, 3)
    train_steps(flat, flat_opt, 3)
    ours, theirs = flat_opt.state_dict(), plain_opt.state_dict()
    assert [g["params"] for g in ours["param_groups"]] == \
        [g["params"] for g in theirs["param_groups"]]
    assert [g["weight_decay"] for g in ours["param_groups"]] == [0.1, 0.0]
    assert sorted(ours["state"]) == sorted(theirs["state"])
    for i, entry in theirs["state"].items():
        assert set(ours["state"][i]) == set(entry)
        for key, value in entry.items():
            assert torch.equal(ours["state"][i][key], value), (i, key)


@pytest.mark.parametrize("direction", ["torch to flat", "flat to torch"])
def test_a_saved_state_resumes_in_either_optimizer(direction):
    plain, plain_opt, flat, flat_opt = pair()
    train_steps(plain, plain_opt, 3)
    train_steps(flat, flat_opt, 3)
    # Deep copies: torch's load_state_dict may adopt the saved tensors rather than copy them.
    saved = {"torch": copy.deepcopy(plain_opt.state_dict()),
             "flat": copy.deepcopy(flat_opt.state_dict())}
    reference = copy.deepcopy(plain)  # the plain run, continued
    reference_opt = build_optimizer(reference, learning_rate=1e-2, weight_decay=0.1)
    reference_opt.load_state_dict(copy.deepcopy(saved["torch"]))
    expected = train_steps(reference, reference_opt, 3, seed=2)
    resumed = copy.deepcopy(plain)
    if direction == "torch to flat":
        optimizer = build_optimizer(resumed, learning_rate=1e-2, weight_decay=0.1, flat=True)
        optimizer.load_state_dict(saved["torch"])
    else:
        optimizer = build_optimizer(resumed, learning_rate=1e-2, weight_decay=0.1)
        optimizer.load_state_dict(saved["flat"])
    assert train_steps(resumed, optimizer, 3, seed=2) == expected
    assert_same_weights(resumed, reference)


def test_a_state_for_other_parameters_is_refused():
    plain, plain_opt, flat, flat_opt = pair()
    train_steps(plain, plain_opt, 1)
    good = plain_opt.state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        flat_opt.load_state_dict({"state": {}, "param_groups": []})
    fewer = copy.deepcopy(good)
    fewer["param_groups"][0]["params"] = fewer["param_groups"][0]["params"][:-1]
    with pytest.raises(ValueError, match="parameters, this model"):
        flat_opt.load_state_dict(fewer)
    reshaped = copy.deepcopy(good)
    first = reshaped["param_groups"][0]["params"][0]
    reshaped["state"][first]["exp_avg"] = torch.zeros(3)
    with pytest.raises(ValueError, match="shape"):
        flat_opt.load_state_dict(reshaped)
    uneven = copy.deepcopy(good)
    uneven["state"][first]["step"] = torch.tensor(7.0)
    with pytest.raises(ValueError, match="unequally"):
        flat_opt.load_state_dict(uneven)
    renamed = copy.deepcopy(good)
    renamed["state"] = {str(k): v for k, v in renamed["state"].items()}
    with pytest.raises(ValueError, match="do not match"):
        flat_opt.load_state_dict(renamed)


def test_parameters_that_cannot_share_a_buffer_get_torchs_adamw():
    torch.manual_seed(0)
    model = build_model(CFG)
    model.transformer.h[0].ln_1.weight.data = model.transformer.h[0].ln_1.weight.data.double()
    groups = param_groups(model, 0.1)
    assert not all(can_flatten(g["params"]) for g in groups)
    optimizer = build_optimizer(model, learning_rate=1e-2, weight_decay=0.1, flat=True)
    assert isinstance(optimizer, torch.optim.AdamW)
    assert not can_flatten([torch.zeros(4, 4)[:, :2]])  # not dense in memory
