"""The per-op step profile that `benchmarks/bench_train.py` prints (`benchmarks/step_profile.py`)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from step_profile import StepProfile, category, profile_steps  # noqa: E402


def test_ops_are_sorted_into_their_kinds():
    assert category("aten::mm") == "matmul"
    assert category("aten::bmm") == "matmul"
    assert category("aten::_scaled_dot_product_flash_attention_for_cpu_backward") == "attention"
    assert category("aten::gelu_backward") == "GELU"
    assert category("aten::native_layer_norm") == "layer norm"
    assert category("aten::_fused_adamw_") == "optimizer"
    assert category("Optimizer.step#AdamW.step") == "optimizer"
    assert category("aten::nll_loss_forward") == "loss"
    assert category("aten::add_") == "other ops"


def test_a_profile_finds_the_ops_a_step_runs_and_their_share():
    a, b = torch.randn(256, 256), torch.randn(256, 256)

    def step():
        F.gelu(a @ b)

    prof = profile_steps(step, 3)
    assert prof.op_ms["aten::mm"] > 0 and prof.op_ms["aten::gelu"] > 0
    kinds = prof.by_category()
    assert kinds["matmul"] >= prof.op_ms["aten::mm"]  # with the aten::matmul wrapper's own
    assert kinds["GELU"] == prof.op_ms["aten::gelu"]
    # Op self times never add up to more than the step (what is left is outside any op).
    assert sum(prof.op_ms.values()) <= prof.step_ms * 1.01
    text = prof.summary("toy")
    assert text.splitlines()[0].startswith("toy: ") and "aten::mm" in text


def test_the_summary_states_shares_of_the_step_time():
    prof = StepProfile(step_ms=10.0, op_ms={"aten::mm": 6.0, "aten::gelu": 1.5, "aten::add": 0.5})
    assert prof.outside_ops_ms == 2.0
    assert list(prof.by_category()) == ["matmul", "outside ops (Python, autograd)", "GELU",
                                        "other ops"]
    lines = prof.summary("x", top=2).splitlines()
    assert "60.0%" in lines[1] and "aten::mm" in lines[1]
    assert "15.0%" in lines[2] and "aten::gelu" in lines[2]
    assert len(lines) == 4  # title, two ops, the line by kind
    assert "matmul 60%" in lines[3] and "outside ops (Python, autograd) 20%" in lines[3]
