"""LoRA: same output as `peft` on the same base with the same A and B, merged == unmerged, the
base frozen, a parameter count that follows r * (in + out), the adapter file on its own."""

from __future__ import annotations

import copy

import pytest
import torch

from gptstudio.core.errors import CheckpointError, ConfigError
from gptstudio.core.finetune import (
    LoRAConfig,
    LoRALinear,
    adapter_state_dict,
    apply_adapter,
    apply_lora,
    count_parameters,
    merge_lora,
    merged_state_dict,
    save_adapter,
    unmerge_lora,
)
from gptstudio.core.finetune.lora import lora_layers
from gptstudio.core.model import GPTConfig, build_model
from tests.tiny_runs import one_thread  # noqa: F401 - one_thread is active here

peft = pytest.importorskip("peft")  # the test oracle (the `test` extras), never used at run time


def gpt(tie=True, seed=0, **overrides):
    torch.manual_seed(seed)
    settings = dict(block_size=16, n_layer=2, n_head=2, n_embd=32, bias=True, tie_weights=tie)
    return build_model(GPTConfig(vocab_size=61, **{**settings, **overrides})).eval()


def adapted(base, config, seed=1):
    model = copy.deepcopy(base)
    torch.manual_seed(seed)
    apply_lora(model, config)
    with torch.no_grad():  # B starts at zero; give it values so the update shows
        for _, layer in lora_layers(model):
            layer.lora_B.normal_(std=0.1)
    return model.eval()


IDS = torch.randint(0, 61, (3, 16), generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize("targets, peft_names", [
    (("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"), ["c_attn", "c_proj", "c_fc"]),
    (("attn.c_attn",), ["c_attn"]),
])
def test_same_output_as_peft_on_the_same_base_with_the_same_a_and_b(targets, peft_names):
    base = gpt()
    ours = adapted(base, LoRAConfig(rank=4, alpha=8, targets=targets))
    theirs = peft.inject_adapter_in_model(
        peft.LoraConfig(r=4, lora_alpha=8, target_modules=peft_names), copy.deepcopy(base))
    with torch.no_grad():
        for name, layer in lora_layers(ours):
            module = theirs.get_submodule(name)
            module.lora_A["default"].weight.copy_(layer.lora_A)
            module.lora_B["default"].weight.copy_(layer.lora_B)
    theirs.eval()
    assert len(list(lora_layers(ours))) == 2 * len(targets)
    torch.testing.assert_close(ours(IDS).logits, theirs(IDS).logits, rtol=0, atol=1e-6)
    assert not torch.allclose(ours(IDS).logits, base(IDS).logits, atol=1e-3)  # it did adapt


def test_at_step_zero_the_adapted_model_is_the_base():
    base = gpt()
    model = copy.deepcopy(base)
    apply_lora(model, LoRAConfig(rank=4, alpha=8))  # B = 0
    torch.testing.assert_close(model(IDS).logits, base(IDS).logits, rtol=0, atol=0)


@pytest.mark.parametrize("tie", [True, False])
def test_merged_equals_unmerged_and_unmerge_goes_back(tie):
    model = adapted(gpt(tie=tie), LoRAConfig(rank=3, alpha=6, dropout=0.2))
    before = model(IDS).logits  # eval mode: dropout off
    weight = model.transformer.h[0].attn.c_attn.weight.clone()
    merge_lora(model)
    assert all(layer.merged for _, layer in lora_layers(model))
    torch.testing.assert_close(model(IDS).logits, before, rtol=0, atol=1e-5)
    merge_lora(model)  # idempotent
    unmerge_lora(model)
    torch.testing.assert_close(model(IDS).logits, before, rtol=0, atol=1e-5)
    torch.testing.assert_close(model.transformer.h[0].attn.c_attn.weight, weight, rtol=0,
                               atol=1e-6)


def test_a_plain_gpt_from_the_merged_state_gives_the_same_logits():
    model = adapted(gpt(tie=False), LoRAConfig(rank=2, alpha=4, targets=(
        "attn.c_attn", "mlp.c_fc", "lm_head")))
    plain = gpt(tie=False, seed=99)  # other weights, overwritten below
    plain.load_state_dict(merged_state_dict(model))
    torch.testing.assert_close(plain(IDS).logits, model(IDS).logits, rtol=0, atol=1e-5)
    assert not any("lora" in name for name in merged_state_dict(model))


def test_the_base_is_frozen_and_the_count_is_r_times_in_plus_out():
    model = gpt()
    n_total = sum(p.numel() for p in model.parameters())
    names = apply_lora(model, LoRAConfig(rank=4, targets=("attn.c_attn", "mlp.c_proj")))
    assert names == ["transformer.h.0.attn.c_attn", "transformer.h.0.mlp.c_proj",
                     "transformer.h.1.attn.c_attn", "transformer.h.1.mlp.c_proj"]
    for param in model.parameters():  # only the adapters' own A and B are new and trainable
        param.requires_grad_(False)
    for _, layer in lora_layers(model):
        layer.lora_A.requires_grad_(True)
        layer.lora_B.requires_grad_(True)
    expected = 2 * (4 * (32 + 96) + 4 * (128 + 32))  # c_attn 32 -> 96, c_proj 128 -> 32
    assert count_parameters(model) == (expected, n_total + expected)
    layer = model.transformer.h[0].attn.c_attn
    assert isinstance(layer, LoRALinear) and not layer.weight.requires_grad
    assert not layer.weight.is_contiguous()  # the model's transposed layout is kept


def test_only_the_chosen_blocks_are_adapted():
    model = gpt(n_layer=3)
    names = apply_lora(model, LoRAConfig(rank=2, targets=("attn.c_attn",)), blocks=[2])
    assert names == ["transformer.h.2.attn.c_attn"]


def test_bad_lora_settings_are_refused_clearly():
    with pytest.raises(ConfigError, match="rank of 33 is larger than the layer"):
        apply_lora(gpt(), LoRAConfig(rank=33))
    with pytest.raises(ConfigError, match="tied weights"):
        apply_lora(gpt(tie=True), LoRAConfig(targets=("lm_head",)))
    with pytest.raises(ConfigError, match="at least 1"):
        LoRAConfig(rank=0)
    with pytest.raises(ConfigError, match="Unknown LoRA target 'c_attn'"):
        LoRAConfig(targets=("c_attn",))
    with pytest.raises(ConfigError, match="alpha"):
        LoRAConfig(alpha=float("nan"))


def test_the_adapter_file_alone_puts_the_update_on_a_fresh_base(tmp_path):
    base = gpt()
    config = LoRAConfig(rank=4, alpha=16, targets=("attn.c_attn", "mlp.c_fc"))
    model = adapted(base, config)
    path = save_adapter(model, tmp_path / "adapter.safetensors", config, step=7, base_run="b")
    assert set(adapter_state_dict(model)) == {
        f"transformer.h.{i}.{layer}.lora_{m}" for i in (0, 1)
        for layer in ("attn.c_attn", "mlp.c_fc") for m in "AB"}
    assert path.stat().st_size < 0.2 * sum(p.numel() * 4 for p in base.parameters())
    fresh = copy.deepcopy(base)
    assert apply_adapter(fresh, path) == config
    torch.testing.assert_close(fresh.eval()(IDS).logits, model(IDS).logits, rtol=0, atol=0)

    other = gpt(n_embd=64)  # another base: the shapes do not fit
    with pytest.raises(CheckpointError, match="another base"):
        apply_adapter(other, path)
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        apply_adapter(gpt(), tmp_path / "junk.safetensors")
