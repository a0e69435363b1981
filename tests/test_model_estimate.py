"""Estimates: exact parameter counts, FLOPs, memory, and refusing what would not fit."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch

from gptstudio.core.errors import ConfigError
from gptstudio.core.model import (
    PRESETS,
    LSTMConfig,
    build_model,
    check_fits,
    estimate,
    from_preset,
)
from gptstudio.core.model.estimate import available_memory, human_bytes

# The package re-exports the function `estimate`, which hides the submodule of the same name.
estimate_module = importlib.import_module("gptstudio.core.model.estimate")

SMALL_ENOUGH_TO_BUILD = ["nano", "tiny", "small"]


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # a tied Parameter is counted once


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_can_be_estimated(name):
    est = estimate(from_preset(name), batch_size=4)
    assert 0 < est.n_params_non_embedding < est.n_params
    assert est.total_bytes == (est.weights_bytes + est.optimizer_bytes + est.gradient_bytes
                               + est.activation_bytes)
    assert est.weights_bytes == 4 * est.n_params
    assert est.optimizer_bytes == 2 * est.weights_bytes
    assert est.flops_per_token > 6 * est.n_params_non_embedding


@pytest.mark.parametrize("name", SMALL_ENOUGH_TO_BUILD)
@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_parameter_count_matches_the_built_model(name, tie, bias):
    cfg = from_preset(name, vocab_size=300, tie_weights=tie, bias=bias)
    model = build_model(cfg)
    est = estimate(cfg)
    assert est.n_params == count(model)
    embeddings = model.transformer.wte.weight.numel() + model.transformer.wpe.weight.numel()
    assert est.n_params_non_embedding == count(model) - embeddings


def test_published_gpt2_sizes():
    # GPT-2's published sizes: 124M / 355M / 774M / 1.5B (tied, with biases).
    millions = {n: estimate(PRESETS[n]).n_params / 1e6
                for n in ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")}
    assert millions["gpt2"] == pytest.approx(124.44, abs=0.01)
    assert millions["gpt2-medium"] == pytest.approx(354.8, abs=0.1)
    assert millions["gpt2-large"] == pytest.approx(774.0, abs=0.1)
    assert millions["gpt2-xl"] == pytest.approx(1557.6, abs=0.1)


@pytest.mark.parametrize("layers", [1, 3])
def test_lstm_parameter_count_matches(layers):
    cfg = LSTMConfig(vocab_size=70, n_embd=24, n_hidden=40, n_layer=layers)
    assert estimate(cfg).n_params == count(build_model(cfg))


def test_flops_follow_6n_plus_attention():
    cfg = from_preset("tiny", vocab_size=65)
    C, L, T = cfg.n_embd, cfg.n_layer, cfg.block_size
    matmul = 12 * L * C * C + 65 * C
    assert estimate(cfg).flops_per_token == 6 * matmul + 12 * L * T * C
    assert estimate(cfg, training=False).flops_per_token == 2 * matmul + 4 * L * T * C


def test_memory_grows_with_batch_and_inference_needs_no_optimizer():
    cfg = from_preset("small", vocab_size=65)
    assert estimate(cfg, 8).activation_bytes > estimate(cfg, 1).activation_bytes
    assert estimate(cfg, 8).weights_bytes == estimate(cfg, 1).weights_bytes
    inference = estimate(cfg, 1, training=False)
    assert inference.optimizer_bytes == inference.gradient_bytes == 0
    assert inference.total_bytes < estimate(cfg, 1).total_bytes


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_batch_size_is_refused(bad):
    with pytest.raises(ConfigError, match="batch size must be a whole number"):
        estimate(from_preset("nano"), bad)


def test_estimating_something_else_is_refused():
    with pytest.raises(ConfigError, match="Cannot estimate a dict"):
        estimate({"n_layer": 2})  # type: ignore[arg-type]


def test_check_fits_refuses_with_a_readable_message():
    cfg = from_preset("gpt2-xl")
    with pytest.raises(ConfigError, match=r"needs about .* GB to train at batch size 8 .*"
                                          r"only 1\.0 GB of memory is free"):
        check_fits(cfg, 8, available_bytes=1 << 30)
    with pytest.raises(ConfigError, match="to run at batch size 1"):
        check_fits(cfg, 1, available_bytes=1 << 30, training=False)


def test_check_fits_accepts_what_fits():
    cfg = from_preset("tiny", vocab_size=65)
    est = check_fits(cfg, 12, available_bytes=1 << 40)
    assert est == estimate(cfg, 12)


def test_check_fits_reads_free_memory_from_the_system(monkeypatch):
    monkeypatch.setattr(estimate_module, "available_memory", lambda: 1000)
    with pytest.raises(ConfigError, match="1000 B of memory is free"):
        check_fits(from_preset("nano"), 1)
    monkeypatch.setattr(estimate_module, "available_memory", lambda: None)
    check_fits(from_preset("gpt2-xl"), 64)  # the system does not say: nothing is refused


def test_cgroup_limit_parsing(tmp_path: Path):
    (tmp_path / "memory.max").write_text("max\n")
    assert estimate_module._read_cgroup_room(tmp_path) is None
    (tmp_path / "memory.max").write_text("1000\n")
    (tmp_path / "memory.current").write_text("400\n")
    assert estimate_module._read_cgroup_room(tmp_path) == 600


def test_available_memory_on_this_machine_is_plausible():
    free = available_memory()
    assert free is None or free > 10 * 2**20


def test_human_bytes():
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.5 KB"
    assert human_bytes(3 * 2**30) == "3.0 GB"
