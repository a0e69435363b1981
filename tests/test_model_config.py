"""GPTConfig / LSTMConfig: presets, validation with clear errors, and the dict round trip."""

from __future__ import annotations

import json

import pytest

from gptstudio.core.errors import ConfigError
from gptstudio.core.model import (
    PRESETS,
    GPTConfig,
    LSTMConfig,
    from_preset,
    model_config_from_dict,
)

EXPECTED_SHAPES = {  # (n_layer, n_head, n_embd, block_size) as named in the issue / GPT-2 paper
    "tiny": (4, 4, 128, 64),
    "small": (6, 6, 384, 256),
    "gpt2": (12, 12, 768, 1024),
    "gpt2-medium": (24, 16, 1024, 1024),
    "gpt2-large": (36, 20, 1280, 1024),
    "gpt2-xl": (48, 25, 1600, 1024),
}


def test_every_named_preset_exists():
    assert set(PRESETS) == {"nano", "tiny", "small", "gpt2", "gpt2-medium", "gpt2-large",
                            "gpt2-xl"}


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_is_a_valid_config_with_overrides(name):
    cfg = from_preset(name, vocab_size=65, dropout=0.1)
    assert isinstance(cfg, GPTConfig)
    assert cfg.vocab_size == 65 and cfg.dropout == 0.1
    assert cfg.n_embd % cfg.n_head == 0
    if name in EXPECTED_SHAPES:
        assert (cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size) == EXPECTED_SHAPES[name]
    # the preset itself is untouched (frozen) and round-trips through JSON
    assert PRESETS[name].vocab_size == 50257
    assert model_config_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_nano_is_smaller_than_tiny():
    assert PRESETS["nano"].n_embd < PRESETS["tiny"].n_embd


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(ConfigError, match="Unknown preset 'huge'.*tiny"):
        from_preset("huge")


def test_unknown_override_is_refused():
    with pytest.raises(ConfigError, match="Unknown GPTConfig field.*n_heads"):
        from_preset("tiny", n_heads=4)


def test_heads_must_divide_width_and_the_message_suggests_fixes():
    with pytest.raises(ConfigError, match=r"n_embd \(100\) must be divisible by n_head \(3\)"):
        GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=3, n_embd=100)
    with pytest.raises(ConfigError, match="Try n_embd = 99 or n_head = 2"):
        from_preset("nano", n_embd=100, n_head=3)


@pytest.mark.parametrize("field", ["vocab_size", "block_size", "n_layer", "n_head", "n_embd"])
@pytest.mark.parametrize("bad", [0, -4])
def test_sizes_must_be_positive(field, bad):
    with pytest.raises(ConfigError, match=f"{field} must be at least 1"):
        from_preset("nano", **{field: bad})


@pytest.mark.parametrize("bad", [2.5, "8", True, None])
def test_sizes_must_be_whole_numbers(bad):
    with pytest.raises(ConfigError, match="n_layer must be a whole number"):
        from_preset("nano", n_layer=bad)


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5])
def test_dropout_must_be_in_unit_interval(bad):
    with pytest.raises(ConfigError, match=r"dropout must be in \[0, 1\)"):
        from_preset("nano", dropout=bad)
    with pytest.raises(ConfigError, match=r"dropout must be in \[0, 1\)"):
        LSTMConfig(vocab_size=10, dropout=bad)


def test_dropout_must_be_a_number():
    with pytest.raises(ConfigError, match="dropout must be a number"):
        from_preset("nano", dropout="0.1")


@pytest.mark.parametrize("field", ["bias", "tie_weights"])
def test_flags_must_be_booleans(field):
    with pytest.raises(ConfigError, match=f"{field} must be true or false"):
        from_preset("nano", **{field: "yes"})


def test_config_is_frozen():
    cfg = from_preset("nano")
    with pytest.raises(AttributeError):
        cfg.n_layer = 3  # type: ignore[misc]


def test_to_dict_carries_the_architecture():
    assert from_preset("nano").to_dict()["arch"] == "gpt"
    assert LSTMConfig(vocab_size=10).to_dict()["arch"] == "lstm"


def test_lstm_config_round_trip_and_validation():
    cfg = LSTMConfig(vocab_size=65, n_embd=32, n_hidden=64, n_layer=1, dropout=0.1, block_size=16)
    assert model_config_from_dict(cfg.to_dict()) == cfg
    assert cfg.replace(n_layer=3).n_layer == 3
    with pytest.raises(ConfigError, match="n_hidden must be at least 1"):
        LSTMConfig(vocab_size=65, n_hidden=0)


def test_from_dict_errors_are_clear():
    with pytest.raises(ConfigError, match='needs an "arch" key'):
        model_config_from_dict({"vocab_size": 3})
    with pytest.raises(ConfigError, match="Unknown model architecture 'rnn'"):
        model_config_from_dict({"arch": "rnn"})
    with pytest.raises(ConfigError, match="This is a 'lstm' config"):
        GPTConfig.from_dict(LSTMConfig(vocab_size=5).to_dict())
    with pytest.raises(ConfigError, match="Incomplete GPTConfig"):
        model_config_from_dict({"arch": "gpt", "vocab_size": 3})
    with pytest.raises(ConfigError, match="Unknown LSTMConfig field.*colour"):
        model_config_from_dict({"arch": "lstm", "vocab_size": 3, "colour": "red"})
    with pytest.raises(ConfigError, match="must be read from a mapping"):
        GPTConfig.from_dict([1, 2])  # type: ignore[arg-type]


def test_activation_is_checked_and_old_configs_default_to_gpt2s():
    with pytest.raises(ConfigError, match="activation must be one of gelu, gelu_tanh.*'relu'"):
        GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=1, n_embd=8, activation="relu")
    saved_before_the_field = {"arch": "gpt", "vocab_size": 10, "block_size": 8, "n_layer": 1,
                              "n_head": 1, "n_embd": 8, "dropout": 0.0, "bias": True,
                              "tie_weights": True}
    assert GPTConfig.from_dict(saved_before_the_field).activation == "gelu_tanh"


def test_small_presets_follow_nanogpt_and_gpt2_sizes_follow_gpt2():
    for name in ("nano", "tiny", "small"):
        assert (PRESETS[name].bias, PRESETS[name].activation) == (False, "gelu")
    for name in ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"):
        assert (PRESETS[name].bias, PRESETS[name].activation) == (True, "gelu_tanh")
