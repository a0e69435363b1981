"""Model configurations: `GPTConfig`, `LSTMConfig`, the named presets, and (de)serialisation.

A config is a frozen dataclass that says *what* to build and nothing else: no weights, no device,
no training settings. Every field is checked when the config is made, so an impossible model
(heads that do not divide the width, a negative size, dropout of 1) fails here with a sentence a
person understands, not deep inside PyTorch. Left out: memory and FLOP estimates (`estimate.py`)
and building the modules (`build.py`).

Worked example:

    >>> cfg = from_preset("tiny", vocab_size=65)
    >>> cfg.n_layer, cfg.n_head, cfg.n_embd, cfg.block_size, cfg.head_dim
    (4, 4, 128, 64, 32)
    >>> model_config_from_dict(cfg.to_dict()) == cfg
    True
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from gptstudio.core.errors import ConfigError

# GPT-2's tokenizer has 50,257 tokens (50,000 merges + 256 bytes + <|endoftext|>). The presets
# use it as their default; a run on another tokenizer passes `vocab_size=tokenizer.vocab_size`.
GPT2_VOCAB_SIZE = 50257

# The MLP's non-linearity: name -> a description for people (see GPTConfig.activation).
ACTIVATIONS: dict[str, str] = {
    "gelu": "GELU (exact)",
    "gelu_tanh": "GELU, tanh approximation (GPT-2)",
}


def _check_positive_int(owner: str, name: str, value: Any) -> None:
    # bool is a subclass of int in Python: `n_layer=True` is a mistake, not a 1-layer model.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{owner}.{name} must be a whole number, got {value!r}.")
    if value <= 0:
        raise ConfigError(f"{owner}.{name} must be at least 1, got {value}.")


def _check_dropout(owner: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{owner}.dropout must be a number, got {value!r}.")
    # dropout = 1 would zero every activation: nothing could be learned.
    if not 0.0 <= value < 1.0:
        raise ConfigError(f"{owner}.dropout must be in [0, 1), got {value}.")


def _check_bool(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{owner}.{name} must be true or false, got {value!r}.")


def _from_fields(cls: type, d: dict[str, Any]) -> Any:
    """Build `cls` from a dict, refusing unknown or missing fields with a clear message."""
    if not isinstance(d, dict):
        raise ConfigError(f"A {cls.__name__} must be read from a mapping, got {type(d).__name__}.")
    d = dict(d)
    arch = d.pop("arch", cls.arch)
    if arch != cls.arch:
        raise ConfigError(f"This is a {arch!r} config, not a {cls.arch!r} one.")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ConfigError(
            f"Unknown {cls.__name__} field(s): {', '.join(unknown)}. "
            f"Known fields: {', '.join(sorted(known))}."
        )
    try:
        return cls(**d)
    except TypeError as exc:  # a required field is missing
        raise ConfigError(f"Incomplete {cls.__name__}: {exc}.") from None


@dataclass(frozen=True)
class GPTConfig:
    """A GPT-2-style decoder-only transformer.

    vocab_size: tokens the model can read and predict (from the tokenizer).
    block_size: the longest context, in tokens (size of the position-embedding table).
    n_layer, n_head, n_embd: depth, attention heads per layer, and width (n_embd % n_head == 0).
    dropout: applied to embeddings, attention weights and residual branches while training.
    bias: biases in the linear layers and LayerNorms (GPT-2 has them).
    tie_weights: the LM head reuses the token-embedding matrix (GPT-2 does this).
    activation: the MLP's non-linearity, one of ACTIVATIONS: "gelu_tanh", GELU's tanh
        approximation (GPT-2 was trained with it, so imported weights need it), or "gelu", the
        exact GELU (nanoGPT's choice; much cheaper than the tanh form on CPU: see
        docs/MEASUREMENTS.md).
    """

    arch: ClassVar[str] = "gpt"

    vocab_size: int
    block_size: int
    n_layer: int
    n_head: int
    n_embd: int
    dropout: float = 0.0
    bias: bool = True
    tie_weights: bool = True
    activation: str = "gelu_tanh"  # the default keeps configs saved before this field valid

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            _check_positive_int("GPTConfig", name, getattr(self, name))
        if self.n_embd % self.n_head != 0:
            width = _a_multiple_near(self.n_embd, self.n_head)
            heads = _a_divisor_near(self.n_embd, self.n_head)
            raise ConfigError(
                f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}): each head "
                f"gets an equal slice of the width. Try n_embd = {width} or n_head = {heads}."
            )
        _check_dropout("GPTConfig", self.dropout)
        _check_bool("GPTConfig", "bias", self.bias)
        _check_bool("GPTConfig", "tie_weights", self.tie_weights)
        if self.activation not in ACTIVATIONS:
            raise ConfigError(
                f"GPTConfig.activation must be one of {', '.join(ACTIVATIONS)}, "
                f"got {self.activation!r}."
            )

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.n_embd // self.n_head

    def replace(self, **changes: Any) -> GPTConfig:
        """A copy with some fields changed (validated again)."""
        return _from_fields(GPTConfig, {**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict, with `"arch": "gpt"` so `model_config_from_dict` can dispatch."""
        return {"arch": self.arch, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GPTConfig:
        """Inverse of `to_dict`; the `"arch"` key is optional. Unknown fields raise ConfigError."""
        return _from_fields(cls, d)


@dataclass(frozen=True)
class LSTMConfig:
    """A recurrent baseline: embedding -> stacked LSTM -> linear head.

    block_size is the training window (an LSTM has no hard context limit; sampling crops long
    prompts to it so that both architectures see the same context).
    """

    arch: ClassVar[str] = "lstm"

    vocab_size: int
    n_embd: int = 128
    n_hidden: int = 256
    n_layer: int = 2
    dropout: float = 0.0
    block_size: int = 64

    def __post_init__(self) -> None:
        for name in ("vocab_size", "n_embd", "n_hidden", "n_layer", "block_size"):
            _check_positive_int("LSTMConfig", name, getattr(self, name))
        _check_dropout("LSTMConfig", self.dropout)

    def replace(self, **changes: Any) -> LSTMConfig:
        """A copy with some fields changed (validated again)."""
        return _from_fields(LSTMConfig, {**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict, with `"arch": "lstm"`."""
        return {"arch": self.arch, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LSTMConfig:
        """Inverse of `to_dict`; the `"arch"` key is optional. Unknown fields raise ConfigError."""
        return _from_fields(cls, d)


def _a_multiple_near(n: int, step: int) -> int:
    """The multiple of step closest to n (used to suggest a valid n_embd)."""
    return max(step, round(n / step) * step)


def _a_divisor_near(n: int, target: int) -> int:
    """The divisor of n closest to target (used to suggest a valid n_head)."""
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    return min(divisors, key=lambda d: (abs(d - target), d))


# The named presets. Each is a complete GPTConfig; `from_preset` applies overrides on top.
PRESETS: dict[str, GPTConfig] = {
    # The three small presets follow nanoGPT's model: no biases and the exact GELU (its
    # `bias=False` is "a bit better and faster"; the exact GELU is much cheaper here than the tanh
    # form). Unlike nanoGPT they give the LM head its own matrix: tying saves 50k x width
    # parameters in GPT-2, but with a small vocabulary it saves little, and the untied head
    # reached a lower loss (see docs/MEASUREMENTS.md). The GPT-2 sizes keep GPT-2's biases,
    # tanh GELU and tied head, so its weights can be imported.
    # Trains in seconds on a laptop CPU: enough to watch a loss curve fall.
    "nano": GPTConfig(GPT2_VOCAB_SIZE, block_size=32, n_layer=2, n_head=2, n_embd=64,
                      bias=False, tie_weights=False, activation="gelu"),
    # The classic CPU "baby GPT" (nanoGPT's shakespeare_char CPU run, published val loss about
    # 1.88 in 2000 steps; ours with TrainConfig's defaults: docs/MEASUREMENTS.md).
    "tiny": GPTConfig(GPT2_VOCAB_SIZE, block_size=64, n_layer=4, n_head=4, n_embd=128,
                      bias=False, tie_weights=False, activation="gelu"),
    # nanoGPT's shakespeare_char model: minutes on a GPU, an hour or more on a CPU.
    "small": GPTConfig(GPT2_VOCAB_SIZE, block_size=256, n_layer=6, n_head=6, n_embd=384,
                       dropout=0.2, bias=False, tie_weights=False, activation="gelu"),
    # The four published GPT-2 sizes (124M, 350M, 774M, 1558M parameters).
    "gpt2": GPTConfig(GPT2_VOCAB_SIZE, block_size=1024, n_layer=12, n_head=12, n_embd=768),
    "gpt2-medium": GPTConfig(GPT2_VOCAB_SIZE, block_size=1024, n_layer=24, n_head=16,
                             n_embd=1024),
    "gpt2-large": GPTConfig(GPT2_VOCAB_SIZE, block_size=1024, n_layer=36, n_head=20,
                            n_embd=1280),
    "gpt2-xl": GPTConfig(GPT2_VOCAB_SIZE, block_size=1024, n_layer=48, n_head=25, n_embd=1600),
}


def from_preset(name: str, **overrides: Any) -> GPTConfig:
    """The preset `name` with some fields replaced, e.g. `from_preset("tiny", vocab_size=65)`."""
    if name not in PRESETS:
        raise ConfigError(f"Unknown preset {name!r}. Choose one of: {', '.join(PRESETS)}.")
    return PRESETS[name].replace(**overrides)


def model_config_from_dict(d: dict[str, Any]) -> GPTConfig | LSTMConfig:
    """Read a config saved by `to_dict()`, choosing the class from its `"arch"` key."""
    if not isinstance(d, dict) or "arch" not in d:
        raise ConfigError('A saved model config needs an "arch" key ("gpt" or "lstm").')
    classes = {GPTConfig.arch: GPTConfig, LSTMConfig.arch: LSTMConfig}
    cls = classes.get(d["arch"])
    if cls is None:
        raise ConfigError(
            f"Unknown model architecture {d['arch']!r}: expected \"gpt\" or \"lstm\"."
        )
    return cls.from_dict(d)
