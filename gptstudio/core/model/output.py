"""`ModelOutput`: what every language model here returns from `forward`.

The GPT and the LSTM share this one return type so that the trainer, the sampler and the app treat
them alike. It holds tensors (it is a return value, not an event: events carry plain data only).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class ModelOutput:
    """logits: (B, T, vocab_size) scores for the next token at every position.
    loss: mean cross-entropy against the targets (positions whose target is -1 are ignored), or
        None when no targets were given.
    attentions: one (B, n_head, T, T_keys) tensor of attention weights per layer when asked for
        with `return_attn=True` (T_keys == T without a KV cache); None otherwise and for the LSTM.
    state: the LSTM's (h, c) after the last position, to pass back in as `state=` to carry it
        on; None for the GPT (its memory of the past is the KV cache).
    """

    logits: torch.Tensor
    loss: torch.Tensor | None = None
    attentions: list[torch.Tensor] | None = None
    state: tuple[torch.Tensor, torch.Tensor] | None = None
