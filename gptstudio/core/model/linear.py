"""`TransposedLinear`: `nn.Linear` with its weight kept in memory as (in, out): GPT-2's layout.

Same shape as `nn.Linear` (the weight is (out_features, in_features)), same maths, same
state-dict, same initialisation; only the order of the numbers in memory differs: the weight is a
transposed view of an (in, out) block (the layout of GPT-2's original `Conv1D` checkpoints).

Why: generating text feeds one token at a time, so every layer becomes a vector-times-matrix
product limited by how fast its weights stream from memory, and the CPU's MKL streams an
(in, out) matrix faster when the weights come from RAM, as they do when decoding a model larger
than the cache. (A benchmark that multiplies one small matrix again and again, from the cache,
shows the opposite; decoding never does that.) The price is a slightly slower bf16 training step.
The figures, for the blocks and the LM head of the `gpt2` sizes, are in docs/MEASUREMENTS.md.

The one visible consequence: `weight.is_contiguous()` is False. Code that needs contiguous
tensors (e.g. `safetensors.torch.save_file`) must call `.contiguous()` first;
`safetensors.torch.save_model` and `load_state_dict` handle it already.
"""

from __future__ import annotations

import torch
from torch import nn


def transposed_storage(rows: int, cols: int) -> torch.Tensor:
    """An uninitialised (rows, cols) tensor whose memory is laid out as (cols, rows)."""
    return torch.empty(cols, rows).t()


class TransposedLinear(nn.Linear):
    """y = x @ W.T + b, with W (out, in) stored column-major (see the module docstring)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        # Let nn.Linear set everything up without memory ("meta"), then make the real tensors.
        super().__init__(in_features, out_features, bias=bias, device="meta")
        self.weight = nn.Parameter(transposed_storage(out_features, in_features))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features))
        self.reset_parameters()  # nn.Linear's default init (the GPT re-initialises GPT-2 style)
