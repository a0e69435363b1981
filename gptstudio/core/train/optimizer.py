"""AdamW with decoupled weight decay on weight matrices only.

Weight decay pulls every weight a little towards zero at each step, independently of the gradient
("decoupled", the W in AdamW). It regularises the big matrices that mix features. It is wrong for
three kinds of parameters, which therefore get none:
- biases and LayerNorm gains/offsets: a handful of numbers that set a scale or an offset; pulling
  a LayerNorm gain towards 0 would just switch its features off;
- embeddings (token and position tables): each row is used only when its token or position
  appears, so decay would shrink the rows of rare tokens for no reason. A tied LM head is the
  token table, so it is no-decay too.

The rule is applied by module type and tensor rank, so it serves the GPT and the LSTM alike.
Left out: the schedule (`schedule.py`), which sets each group's `lr` before every step, and the
flat-buffer variant of AdamW the trainer uses (`flat_adamw.py`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from gptstudio.core.train.config import TrainConfig
from gptstudio.core.train.flat_adamw import FlatAdamW, can_flatten


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two optimizer groups: `[{"params": decayed, ...}, {"params": not decayed, ...}]`."""
    # Parameters of embedding tables, found by module type (names differ between models).
    embedding_ids = {
        id(module.weight) for module in model.modules() if isinstance(module, nn.Embedding)
    }
    decay, no_decay = [], []
    # named_parameters() lists a tied tensor once, so a tied LM head is not counted twice.
    for _, param in model.named_parameters():
        if not param.requires_grad:
            continue
        # Matrices (dim >= 2) decay, vectors (biases, norm gains) do not; embeddings never do.
        if param.dim() >= 2 and id(param) not in embedding_ids:
            decay.append(param)
        else:
            no_decay.append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def clip_targets(optimizer: torch.optim.Optimizer | FlatAdamW) -> list[torch.Tensor]:
    """The tensors whose gradients the global norm is measured (and clipped) over: FlatAdamW's
    few flat buffers, or else every parameter that has a gradient."""
    if isinstance(optimizer, FlatAdamW):
        return optimizer.flat_params
    return [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]


def build_optimizer(
    model: nn.Module,
    *,
    learning_rate: float,
    weight_decay: float,
    betas: tuple[float, float] = (TrainConfig.beta1, TrainConfig.beta2),
    flat: bool = False,
) -> torch.optim.AdamW | FlatAdamW:
    """AdamW over `param_groups(model, weight_decay)`, fused into one kernel where possible.

    The fused implementation (one kernel for all parameters) is the fastest on CPU, CUDA and
    MPS; it needs every parameter to be a floating-point tensor on one of those devices.
    Otherwise the multi-tensor ("foreach") path is used. `flat=True` moves the parameters into
    one buffer per group first (`FlatAdamW`: faster for models of many small tensors) where
    they allow it.
    """
    groups = [g for g in param_groups(model, weight_decay) if g["params"]]
    params = [p for g in groups for p in g["params"]]
    if flat and all(can_flatten(g["params"]) for g in groups) and groups:
        return FlatAdamW(groups, lr=learning_rate, betas=betas)
    fused = bool(params) and all(
        p.is_floating_point() and p.device.type in ("cpu", "cuda", "mps") for p in params
    )
    return torch.optim.AdamW(
        groups, lr=learning_rate, betas=betas, fused=fused or None, foreach=None if fused else True
    )
