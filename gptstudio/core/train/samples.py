"""Periodic text samples during training: the same prompt and seed each time, to read progress.

Watching the loss fall says little about what the model can do; reading what it writes at
step 0, 500 and 2000 does. Using one fixed prompt and one fixed seed makes the samples comparable:
only the weights change between them. Sampling draws from its own generator and the global RNG
is set aside, so samples do not change the training run. Left out: sampling itself
(`gptstudio.core.sampling`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gptstudio.core.errors import ConfigError, TokenizerError


def check_sample_prompt(tokenizer: Any, prompt: str) -> None:
    """ConfigError now if `prompt` cannot start a sample, rather than at the first sample."""
    try:
        ids = tokenizer.encode(prompt, allowed_special="all")
    except TokenizerError as exc:
        raise ConfigError(f"The sample prompt cannot be encoded: {exc}") from None
    if not ids and getattr(tokenizer, "eot_id", None) is None:
        raise ConfigError("The sample prompt is empty and this tokenizer has no end-of-text "
                          "token to start from; set a sample prompt.")


def sample_text(
    model: nn.Module, tokenizer: Any, prompt: str, *, max_new_tokens: int, temperature: float,
    seed: int,
) -> str:
    """What the model writes after `prompt` (temperature 0: greedy); leaves it in train mode."""
    from gptstudio.core.sampling import SamplingConfig, generate  # imports the model package

    config = SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature, seed=seed,
                            n_alternatives=0)
    with torch.random.fork_rng(devices=[]):
        text = generate(model, tokenizer, prompt, config)
    model.train()
    return text
