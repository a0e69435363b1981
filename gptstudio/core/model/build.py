"""`build_model`: turn a config into a freshly initialised model.

The one place that maps config classes to model classes, so the trainer, the CLI and the app
never need to know which architectures exist. Left out: checking that the model fits in memory
(`estimate.check_fits`, call it first) and loading weights (checkpoints, `hf_gpt2`).
"""

from __future__ import annotations

from gptstudio.core.errors import ConfigError
from gptstudio.core.model.config import GPTConfig, LSTMConfig
from gptstudio.core.model.gpt import GPT
from gptstudio.core.model.lstm import LSTMLanguageModel


def build_model(config: GPTConfig | LSTMConfig) -> GPT | LSTMLanguageModel:
    """A new model with random initial weights, on the CPU, in float32."""
    if isinstance(config, GPTConfig):
        return GPT(config)
    if isinstance(config, LSTMConfig):
        return LSTMLanguageModel(config)
    raise ConfigError(f"Cannot build a model from a {type(config).__name__}.")
