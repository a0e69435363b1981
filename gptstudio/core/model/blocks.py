"""The MLP and the pre-norm residual `Block` that a GPT stacks `n_layer` times.

A block lets every position first gather information from the past (attention), then think about
it on its own (the MLP). Both sit on a side branch that is *added* to the residual stream, and each
branch normalises its input first ("pre-norm", GPT-2's arrangement): the stream itself is never
normalised inside the stack, which keeps gradients healthy in deep models.

Left out: attention itself (`attention.py`) and the embeddings / head (`gpt.py`).
"""

from __future__ import annotations

import torch
from torch import nn

from gptstudio.core.model.attention import CausalSelfAttention
from gptstudio.core.model.config import GPTConfig
from gptstudio.core.model.kv_cache import KVCache
from gptstudio.core.model.linear import TransposedLinear

# GPT-2 uses LayerNorm with epsilon 1e-5 (PyTorch's default), stated here so imports match.
LAYER_NORM_EPS = 1e-5


class MLP(nn.Module):
    """Position-wise feed-forward network: widen 4x, GELU, project back."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = TransposedLinear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        # GELU(x) = x * P(X <= x) for a standard normal X: a smooth ReLU. GPT-2 uses its tanh
        # approximation ("gelu_new"), which imported GPT-2 weights need for the same logits;
        # nanoGPT-style presets use the exact form.
        approximate = "tanh" if config.activation == "gelu_tanh" else "none"
        self.gelu = nn.GELU(approximate=approximate)
        self.c_proj = TransposedLinear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, T, 4C) -> (B, T, C)."""
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """x + attention(norm(x)), then x + mlp(norm(x))."""

    def __init__(self, config: GPTConfig, layer_index: int = 0) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=LAYER_NORM_EPS, bias=config.bias)
        self.attn = CausalSelfAttention(config, layer_index)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=LAYER_NORM_EPS, bias=config.bias)
        self.mlp = MLP(config)

    def forward(
        self,
        x: torch.Tensor,
        *,
        return_attn: bool = False,
        kv_cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, T, C) -> (x: (B, T, C), attention weights or None)."""
        attn_out, attn_weights = self.attn(self.ln_1(x), return_attn=return_attn,
                                           kv_cache=kv_cache)
        x = x + attn_out
        x = x + self.mlp(self.ln_2(x))
        return x, attn_weights
