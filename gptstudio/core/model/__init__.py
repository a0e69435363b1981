"""The language models: configs and presets, estimates, the GPT, its KV cache, and the LSTM.

Import from here: `from gptstudio.core.model import GPTConfig, from_preset, build_model`.
Files, bottom-up: config -> estimate -> kv_cache -> attention -> blocks -> decode (the
one-token fast path) -> gpt; lstm; build.
Sampling lives in `gptstudio.core.sampling`, GPT-2 weight import/export in
`gptstudio.core.hf_gpt2`.
"""

from gptstudio.core.model.attention import CausalSelfAttention
from gptstudio.core.model.blocks import MLP, Block
from gptstudio.core.model.build import build_model
from gptstudio.core.model.config import (
    ACTIVATIONS,
    PRESETS,
    GPTConfig,
    LSTMConfig,
    from_preset,
    model_config_from_dict,
)
from gptstudio.core.model.estimate import ModelEstimate, check_fits, estimate
from gptstudio.core.model.gpt import GPT
from gptstudio.core.model.kv_cache import KVCache
from gptstudio.core.model.lstm import LSTMLanguageModel
from gptstudio.core.model.output import ModelOutput

__all__ = [
    "ACTIVATIONS",
    "GPT",
    "MLP",
    "PRESETS",
    "Block",
    "CausalSelfAttention",
    "GPTConfig",
    "KVCache",
    "LSTMConfig",
    "LSTMLanguageModel",
    "ModelEstimate",
    "ModelOutput",
    "build_model",
    "check_fits",
    "estimate",
    "from_preset",
    "model_config_from_dict",
]
