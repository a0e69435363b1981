"""The estimates Setup shows, checked against measurements: FLOPs against PyTorch's own FLOP
counter, memory against the peak allocation of a real fp32 training step."""

from __future__ import annotations

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from gptstudio.core.model import build_model, estimate, from_preset

CONFIGS = {
    "untied, no bias": dict(n_layer=2, n_head=2, n_embd=32, block_size=32),
    "tied, biases": dict(n_layer=3, n_head=4, n_embd=48, block_size=24, bias=True,
                         tie_weights=True),
}


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("training", [True, False])
def test_flops_per_token_equal_pytorchs_count(name, training):
    config = from_preset("nano", vocab_size=97, **CONFIGS[name])
    model = build_model(config)
    B, T = 3, config.block_size
    x, y = torch.randint(0, 97, (B, T)), torch.randint(0, 97, (B, T))
    # The math attention kernel is made of matmuls the counter sees (the fused CPU kernel is
    # not counted); the estimate counts the full T x T scores, as that kernel computes them.
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        if training:
            model(x, y).loss.backward()
        else:
            with torch.no_grad():
                model(x)
    measured = counter.get_total_flops() / (B * T)
    assert measured == estimate(config, B, training=training).flops_per_token


def _peak_bytes(prof) -> int:
    """The largest amount allocated at once, from the profiler's allocations and frees."""
    events = sorted((e for e in prof.events() if e.self_cpu_memory_usage != 0),
                    key=lambda e: e.time_range.start)
    now = peak = 0
    for event in events:
        now += event.self_cpu_memory_usage
        peak = max(peak, now)
    return peak


@pytest.mark.parametrize("batch, block, width, layers", [(8, 64, 64, 2), (8, 96, 96, 3)])
def test_training_memory_is_within_the_stated_tens_of_percent(batch, block, width, layers):
    config = from_preset("nano", vocab_size=97, block_size=block, n_layer=layers, n_head=4,
                         n_embd=width)
    x = torch.randint(0, 97, (batch, block))
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model = build_model(config)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
        model(x, x).loss.backward()
        optimizer.step()  # AdamW's moments are allocated here
    ratio = _peak_bytes(prof) / estimate(config, batch).total_bytes
    assert 0.5 <= ratio <= 1.5, ratio
