"""GPT-2 interoperability, with Hugging Face `transformers` as the oracle (random weights only).

Import: a `GPT2LMHeadModel` saved with `save_pretrained` gives the same logits in our GPT.
Export: our GPT, written in GPT-2's layout, loads into `GPT2LMHeadModel` with the same logits.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from gptstudio.core.errors import CheckpointError, ConfigError
from gptstudio.core.hf_gpt2 import export_hf_gpt2, import_hf_gpt2
from gptstudio.core.model import GPTConfig, LSTMConfig, build_model

transformers = pytest.importorskip("transformers")

VOCAB, CONTEXT = 100, 32


def hf_model(seed: int = 0, n_embd: int = 32, n_head: int = 2, tie: bool = True,
             activation: str = "gelu_new"):
    """A small random GPT-2 (dropout 0, bos/eos inside the vocabulary to keep HF quiet)."""
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(
        vocab_size=VOCAB, n_positions=CONTEXT, n_embd=n_embd, n_layer=2, n_head=n_head,
        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=VOCAB - 1,
        eos_token_id=VOCAB - 1, tie_word_embeddings=tie, activation_function=activation,
    )
    model = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # make the biases and norms non-trivial, so a mix-up would show
        for name, p in model.named_parameters():
            if name.endswith("bias") or "ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model


def hf_logits(model, idx: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(idx).logits


def our_logits(model, idx: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(idx).logits


IDX = torch.randint(0, VOCAB, (2, CONTEXT), generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("tie,hf_activation,activation", [
    (True, "gelu_new", "gelu_tanh"), (False, "gelu_new", "gelu_tanh"),
    (True, "gelu_pytorch_tanh", "gelu_tanh"), (True, "gelu", "gelu"),
])
def test_import_gives_the_same_logits_as_transformers(tmp_path: Path, tie: bool,
                                                      hf_activation: str, activation: str):
    reference = hf_model(tie=tie, activation=hf_activation)
    reference.save_pretrained(tmp_path, safe_serialization=True)
    ours = import_hf_gpt2(tmp_path)
    assert ours.config == GPTConfig(vocab_size=VOCAB, block_size=CONTEXT, n_layer=2, n_head=2,
                                    n_embd=32, tie_weights=tie, activation=activation)
    torch.testing.assert_close(our_logits(ours, IDX), hf_logits(reference, IDX),
                               atol=1e-5, rtol=1e-5)
    if tie:
        assert ours.lm_head.weight is ours.transformer.wte.weight


def test_import_of_hub_style_file_without_prefix_or_config(tmp_path: Path):
    # The original hub files come from GPT2Model: no "transformer." prefix, mask buffers, and
    # no config.json here, so the heads are inferred as 64 wide.
    reference = hf_model(n_embd=128, n_head=2)
    tensors = {k.removeprefix("transformer."): v.contiguous()
               for k, v in reference.state_dict().items() if k != "lm_head.weight"}
    tensors["h.0.attn.bias"] = torch.ones(1, 1, CONTEXT, CONTEXT)
    tensors["h.1.attn.masked_bias"] = torch.tensor(-1e4)
    save_file(tensors, tmp_path / "model.safetensors")
    ours = import_hf_gpt2(tmp_path / "model.safetensors")
    assert ours.config.n_head == 2 and ours.config.n_embd == 128
    torch.testing.assert_close(our_logits(ours, IDX), hf_logits(reference, IDX),
                               atol=1e-5, rtol=1e-5)


def test_config_json_gives_the_number_of_heads(tmp_path: Path):
    reference = hf_model(n_embd=32, n_head=4)
    reference.save_pretrained(tmp_path)
    config_path = tmp_path / "config.json"
    moved = tmp_path / "elsewhere.json"
    config_path.rename(moved)
    with pytest.raises(CheckpointError, match="Cannot tell the number of heads"):
        import_hf_gpt2(tmp_path)
    ours = import_hf_gpt2(tmp_path / "model.safetensors", config_path=moved)
    assert ours.config.n_head == 4
    torch.testing.assert_close(our_logits(ours, IDX), hf_logits(reference, IDX),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("tie,bias,activation", [
    (True, True, "gelu_tanh"), (False, True, "gelu_tanh"), (True, False, "gelu_tanh"),
    (True, False, "gelu"),  # the small presets' kind of model
])
def test_export_loads_into_transformers_with_the_same_logits(tmp_path: Path, tie, bias,
                                                             activation):
    torch.manual_seed(1)
    ours = build_model(GPTConfig(vocab_size=VOCAB, block_size=CONTEXT, n_layer=2, n_head=2,
                                 n_embd=32, tie_weights=tie, bias=bias,
                                 activation=activation)).eval()
    with torch.no_grad():
        for name, p in ours.named_parameters():
            if name.endswith("bias") or "ln_" in name:
                p.add_(0.1 * torch.randn_like(p))
    out = export_hf_gpt2(ours, tmp_path / "hf", eot_id=VOCAB - 1)
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors"]
    saved = load_file(out / "model.safetensors")
    assert ("lm_head.weight" in saved) == (not tie)  # a tied head is saved once
    loaded = transformers.GPT2LMHeadModel.from_pretrained(out).eval()
    torch.testing.assert_close(hf_logits(loaded, IDX), our_logits(ours, IDX),
                               atol=1e-5, rtol=1e-5)
    assert json.loads((out / "config.json").read_text())["activation_function"] == \
        {"gelu_tanh": "gelu_new", "gelu": "gelu"}[activation]
    # ...and back again.
    again = import_hf_gpt2(out)
    assert again.config.activation == activation
    torch.testing.assert_close(our_logits(again, IDX), our_logits(ours, IDX))


def test_export_refuses_an_lstm(tmp_path: Path):
    with pytest.raises(ConfigError, match="Only GPT models"):
        export_hf_gpt2(build_model(LSTMConfig(vocab_size=10)), tmp_path)


# -- errors -------------------------------------------------------------------------------------
def saved_hf_tensors(tmp_path: Path) -> dict[str, torch.Tensor]:
    hf_model().save_pretrained(tmp_path)
    return load_file(tmp_path / "model.safetensors")


def test_missing_file_and_corrupt_file(tmp_path: Path):
    with pytest.raises(CheckpointError, match="No GPT-2 weights"):
        import_hf_gpt2(tmp_path)
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        import_hf_gpt2(bad)


def test_missing_weight_is_named(tmp_path: Path):
    tensors = saved_hf_tensors(tmp_path)
    del tensors["transformer.h.1.mlp.c_fc.bias"]
    save_file(tensors, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"lacks 1 weight\(s\): transformer.h.1.mlp.c_fc"):
        import_hf_gpt2(tmp_path)


def test_unexpected_weight_is_named(tmp_path: Path):
    tensors = saved_hf_tensors(tmp_path)
    tensors["transformer.h.0.adapter.weight"] = torch.zeros(2)
    save_file(tensors, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"unexpected weight\(s\): h.0.adapter.weight"):
        import_hf_gpt2(tmp_path)


def test_wrong_shape_is_explained(tmp_path: Path):
    tensors = saved_hf_tensors(tmp_path)
    tensors["transformer.h.0.mlp.c_fc.weight"] = torch.zeros(32, 64)
    save_file(tensors, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match=r"'h.0.mlp.c_fc.weight' has shape \(64, 32\)"):
        import_hf_gpt2(tmp_path)


def test_not_a_gpt2_file(tmp_path: Path):
    save_file({"encoder.weight": torch.zeros(3)}, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match="not a GPT-2 checkpoint.*encoder.weight"):
        import_hf_gpt2(tmp_path)


@pytest.mark.parametrize("change,message", [
    ({"activation_function": "relu"}, "activation_function 'relu'"),
    ({"layer_norm_epsilon": 1e-6}, "layer_norm_epsilon"),
    ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx"),
    ({"model_type": "gpt_neo"}, "model_type"),
    ({"n_layer": 3}, "config.json says n_layer=3, but the weights have 2"),
    ({"n_inner": 64}, "n_inner=64"),
    ({"n_head": 5}, "impossible model.*divisible"),
])
def test_unsupported_or_inconsistent_config_is_refused(tmp_path: Path, change, message):
    hf_model().save_pretrained(tmp_path)
    config_path = tmp_path / "config.json"
    config = json.loads(config_path.read_text())
    config.update(change)
    config_path.write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=message):
        import_hf_gpt2(tmp_path)


def test_unreadable_config_json(tmp_path: Path):
    hf_model().save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="Cannot read the GPT-2 config"):
        import_hf_gpt2(tmp_path)


def test_integer_weights_are_refused_not_cast_to_zeros(tmp_path: Path):
    tensors = saved_hf_tensors(tmp_path)
    tensors = {k: (t * 100).to(torch.int32) for k, t in tensors.items()}
    save_file(tensors, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match="not floating point.*int32"):
        import_hf_gpt2(tmp_path)


def test_weights_that_are_not_finite_are_refused(tmp_path: Path):
    tensors = saved_hf_tensors(tmp_path)
    tensors["transformer.h.0.attn.c_attn.weight"][0, 0] = float("inf")
    save_file(tensors, tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match="not finite.*h.0.attn.c_attn.weight"):
        import_hf_gpt2(tmp_path)
