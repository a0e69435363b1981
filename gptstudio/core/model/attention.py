"""Causal multi-head self-attention, with a fast path and an explicit path that shows its weights.

Each position asks a question (query), offers a label (key) and a content (value). A position's
output is the average of the values of the positions it may see (itself and the past), weighted
by how well its query matches their keys. Several heads do this in parallel, each on its own
slice of the width, and a final linear layer mixes the heads back together.

Two paths compute the same thing:
- fast: `F.scaled_dot_product_attention` (fused kernel; never builds the T x T matrix in memory
  on backends that can avoid it);
- explicit: the textbook formula, step by step, which also returns the attention weights
  (B, n_head, T, T) so the app can draw them. Used when `return_attn=True`.
A test checks that both give the same output.

Left out: the MLP and the residual block (`blocks.py`), and the cache itself (`kv_cache.py`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gptstudio.core.model.config import GPTConfig
from gptstudio.core.model.kv_cache import KVCache
from gptstudio.core.model.linear import TransposedLinear


def causal_mask(n_queries: int, n_keys: int, device: torch.device) -> torch.Tensor:
    """Boolean (n_queries, n_keys) mask, True where a query may look.

    The queries are the last n_queries of the n_keys positions, so query i sits at absolute
    position offset + i (offset = n_keys - n_queries) and sees keys 0..offset+i.
    Example, 2 new queries after 2 cached positions:
        [[1, 1, 1, 0],
         [1, 1, 1, 1]]
    """
    offset = n_keys - n_queries
    ones = torch.ones(n_queries, n_keys, dtype=torch.bool, device=device)
    return ones.tril(diagonal=offset)


def _attends_in_fp32(t: torch.Tensor) -> bool:
    """Whether attention on `t` should run in fp32: bf16 on the CPU, or any CPU tensor under
    bf16 autocast (see `_fast_attention`)."""
    return t.device.type == "cpu" and (
        t.dtype == torch.bfloat16 or torch.is_autocast_enabled("cpu"))


class CausalSelfAttention(nn.Module):
    """Multi-head masked self-attention, as in GPT-2 (names match GPT-2's for weight import)."""

    def __init__(self, config: GPTConfig, layer_index: int = 0) -> None:
        super().__init__()
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.head_dim = config.head_dim
        self.layer_index = layer_index  # which slice of a shared KVCache is ours
        self.dropout = config.dropout
        # Queries, keys and values of all heads in one matmul: (C) -> (3C).
        self.c_attn = TransposedLinear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        # Mixes the concatenated heads back into the residual stream.
        self.c_proj = TransposedLinear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(
        self,
        x: torch.Tensor,
        *,
        return_attn: bool = False,
        kv_cache: KVCache | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x: (B, T, C) -> (output (B, T, C), attention weights (B, nh, T, T_keys) or None)."""
        B, T, C = x.shape
        qkv = self.c_attn(x)  # (B, T, 3C)
        if not return_attn and _attends_in_fp32(qkv):
            qkv = qkv.float()  # one cast here instead of three in _fast_attention
        q, k, v = qkv.split(self.n_embd, dim=2)  # each (B, T, C)
        # Split the width into heads and move heads next to batch: (B, nh, T, hs).
        q = q.view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        k = k.view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        v = v.view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        if kv_cache is not None:
            # Attend over the cached past plus the new positions: (B, nh, T_keys, hs).
            k, v = kv_cache.update(self.layer_index, k, v)

        if return_attn:
            context_vec, attn_weights = self._explicit_attention(q, k, v)
        else:
            context_vec, attn_weights = self._fast_attention(q, k, v), None

        # Put the heads side by side again: (B, nh, T, hs) -> (B, T, nh, hs) -> (B, T, C),
        # in the input's precision (a no-op unless attention ran in fp32 for a bf16 model).
        context_vec = context_vec.transpose(1, 2).contiguous().view(B, T, C).to(x.dtype)
        return self.resid_dropout(self.c_proj(context_vec)), attn_weights

    def _explicit_attention(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The textbook formula; returns (context (B, nh, T, hs), weights (B, nh, T, T_keys))."""
        n_queries, n_keys = q.shape[2], k.shape[2]
        # How well each query matches each key, scaled so the softmax does not saturate as the
        # head width grows (dot products of random vectors grow like sqrt(head_dim)).
        attn_scores = q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)  # (B, nh, T, T_keys)
        # A position must not see the future: give those scores -inf so softmax makes them 0.
        mask = causal_mask(n_queries, n_keys, q.device)
        attn_scores = attn_scores.masked_fill(~mask, float("-inf"))
        attn_weights = torch.softmax(attn_scores, dim=-1)  # each row sums to 1
        context_vec = self.attn_dropout(attn_weights) @ v  # (B, nh, T, hs)
        return context_vec, attn_weights

    def _fast_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The same computation in PyTorch's fused kernel; returns context (B, nh, T, hs)."""
        if _attends_in_fp32(q) or _attends_in_fp32(k):
            # PyTorch's CPU attention kernel is several times slower in bf16 than in fp32 (while
            # bf16 matmuls are faster; docs/MEASUREMENTS.md): in a bf16 model or under bf16
            # autocast, attend in fp32.
            # Autocast is turned off here, or it would cast the inputs straight back to bf16.
            with torch.autocast("cpu", enabled=False):
                return self._fast_attention(q.float(), k.float(), v.float())
        n_queries, n_keys = q.shape[2], k.shape[2]
        dropout_p = self.dropout if self.training else 0.0
        if n_queries == 1:
            # One new token sees every stored position: no mask needed (the common decode step).
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        if n_queries == n_keys:
            # No cache (or an empty one): the plain lower-triangular mask.
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        # New queries after cached positions: `is_causal` would align the triangle top-left,
        # which is wrong here, so pass the shifted mask explicitly.
        mask = causal_mask(n_queries, n_keys, q.device)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
