"""`FlatAdamW`: AdamW over parameters that live side by side in one buffer per group.

A small model has few numbers but many tensors (the `tiny` preset: 0.8M numbers in 27 tensors).
The fused AdamW kernel and gradient clipping then spend much of their time on per-tensor work:
a parallel loop, a norm, bookkeeping in Python, for each tensor. Here every parameter of a group
becomes a view into one flat buffer, and its gradient a view into a second one; the optimizer
and the clipping then see two long tensors instead of 27 short ones, and a whole training step
of the `tiny` preset gets measurably faster (docs/MEASUREMENTS.md).

What changes for the rest of the code:
- a parameter's *values and layout* are the same (each view keeps the parameter's shape and
  strides); only where they are stored moves. Models keep their state dicts and checkpoints.
- gradients are never set to None: `zero_grad()` zeroes the flat gradient buffer, and autograd
  adds into the views. Code must let backward() fill gradients, not assign `param.grad`.
- a parameter that got no gradient in a step is still updated (with a zero gradient: momentum
  and weight decay go on), where `torch.optim.AdamW` with None gradients skips it. The GPT and the
  LSTM use every parameter in every step, so for them nothing differs.
- `state_dict()` / `load_state_dict()` speak `torch.optim.AdamW`'s per-parameter format, so a
  checkpoint from either optimizer resumes with the other.

Not used for a model wrapped in DistributedDataParallel (it keeps its own gradient buckets).
Left out: which parameters decay (`optimizer.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

STATE_KEYS = ("exp_avg", "exp_avg_sq")


def can_flatten(params: Sequence[torch.Tensor]) -> bool:
    """Whether `params` can share one buffer: one float dtype and device (CPU or CUDA), and each
    tensor dense in memory in plain or transposed order."""
    if not params:
        return False
    first = params[0]
    return all(
        p.dtype == first.dtype and p.device == first.device and p.is_floating_point()
        and p.device.type in ("cpu", "cuda")
        and (p.is_contiguous() or (p.dim() == 2 and p.t().is_contiguous()))
        for p in params
    )


def _view(flat: torch.Tensor, like: torch.Tensor, offset: int) -> torch.Tensor:
    """The part of `flat` that holds a tensor shaped and strided like `like`, from `offset`."""
    return flat.as_strided(like.shape, like.stride(), offset)


class FlatAdamW:
    """Fused AdamW over flat per-group buffers (see the module docstring).

    `groups` are `param_groups(model, weight_decay)`'s groups (`can_flatten` must hold for the
    parameters of each); hyperparameters as `torch.optim.AdamW`'s.
    """

    def __init__(self, groups: Sequence[dict[str, Any]], *, lr: float,
                 betas: tuple[float, float], eps: float = 1e-8) -> None:
        self._layouts: list[list[tuple[nn.Parameter, int]]] = []
        self.flat_params: list[nn.Parameter] = []
        flat_groups = []
        for group in groups:
            params = list(group["params"])
            first = params[0]
            data = torch.empty(sum(p.numel() for p in params), dtype=first.dtype,
                               device=first.device)
            grad = torch.zeros_like(data)
            layout, offset = [], 0
            for p in params:
                view = _view(data, p, offset)
                view.copy_(p.detach())
                p.data = view  # the same Parameter object: modules and tying are unaffected
                p.grad = _view(grad, p, offset)
                layout.append((p, offset))
                offset += p.numel()
            flat = nn.Parameter(data)
            flat.grad = grad
            self._layouts.append(layout)
            self.flat_params.append(flat)
            flat_groups.append({**{k: v for k, v in group.items() if k != "params"},
                                "params": [flat]})
        self.inner = torch.optim.AdamW(flat_groups, lr=lr, betas=betas, eps=eps, fused=True)

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The groups' settings (set `group["lr"]` here); `params` holds the flat buffers."""
        return self.inner.param_groups

    @property
    def defaults(self) -> dict[str, Any]:
        return self.inner.defaults

    def step(self) -> None:
        self.inner.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Zero every gradient (views stay in place, whatever `set_to_none` says)."""
        for flat in self.flat_params:
            flat.grad.zero_()

    def state_dict(self) -> dict[str, Any]:
        """`torch.optim.AdamW`'s per-parameter format (params numbered group after group)."""
        inner = self.inner.state_dict()
        state: dict[int, dict[str, Any]] = {}
        groups, index = [], 0
        for g, (settings, layout) in enumerate(zip(inner["param_groups"], self._layouts)):
            flat_state = inner["state"].get(g)
            ids = []
            for p, offset in layout:
                if flat_state:
                    state[index] = {"step": flat_state["step"].clone(), **{
                        key: _view(flat_state[key], p, offset).clone() for key in STATE_KEYS}}
                ids.append(index)
                index += 1
            groups.append({**{k: v for k, v in settings.items() if k != "params"},
                           "params": ids})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load `state_dict()`'s format (or `torch.optim.AdamW`'s for the same parameters).

        ValueError, KeyError or TypeError if it belongs to other parameters."""
        groups, state = state_dict["param_groups"], state_dict["state"]
        if len(groups) != len(self._layouts):
            raise ValueError(f"the optimizer state has {len(groups)} parameter groups, "
                             f"this model {len(self._layouts)}")
        if state and not any(i in state for settings in groups for i in settings["params"]):
            raise ValueError("the optimizer state's entries do not match its parameter groups")
        inner_state: dict[int, dict[str, Any]] = {}
        for g, (settings, layout, flat) in enumerate(zip(groups, self._layouts,
                                                         self.flat_params)):
            entries = [state.get(i) for i in settings["params"]]
            if len(entries) != len(layout):
                raise ValueError(f"group {g} of the optimizer state has {len(entries)} "
                                 f"parameters, this model {len(layout)}")
            if all(entry is None for entry in entries):
                continue  # never stepped
            if any(entry is None for entry in entries):
                raise ValueError(f"group {g} of the optimizer state is incomplete")
            steps = {float(entry["step"]) for entry in entries}
            if len(steps) != 1:
                raise ValueError(f"the parameters of group {g} were stepped unequally {steps}")
            merged = {"step": torch.as_tensor(entries[0]["step"], dtype=torch.float32).clone()}
            for key in STATE_KEYS:
                buffer = torch.zeros_like(flat.detach())
                for (p, offset), entry in zip(layout, entries):
                    saved = entry[key]
                    if tuple(saved.shape) != tuple(p.shape):
                        raise ValueError(f"a saved {key} has shape {tuple(saved.shape)}, its "
                                         f"parameter {tuple(p.shape)}")
                    _view(buffer, p, offset).copy_(saved)
                merged[key] = buffer
            inner_state[g] = merged
        self.inner.load_state_dict({
            "state": inner_state,
            "param_groups": [{**{k: v for k, v in settings.items() if k != "params"},
                              "params": [g]} for g, settings in enumerate(groups)],
        })
        for group in self.inner.param_groups:  # a state saved by the foreach path stays fused
            group["fused"], group["foreach"] = True, None
