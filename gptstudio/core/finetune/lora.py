"""LoRA (low-rank adaptation, Hu et al. 2021; the book's appendix E), written out to be read.

Fine-tuning changes a weight matrix W (out x in) by some ΔW. LoRA bets that the useful ΔW has a
low rank r, so it learns it as a product of two thin matrices, ΔW = B @ A with A (r x in) and
B (out x r), and leaves W itself frozen:

    y = x W^T + b  +  (alpha / r) * dropout(x) A^T B^T

A starts random (Kaiming-uniform, as nn.Linear) and B at zero, so at step 0 the adapted model is
exactly the base model; training moves only A and B: r * (in + out) numbers per layer instead
of in * out. alpha / r scales the update, so that changing r does not change how big a step of
the same learning rate is. (The book's `LoRALayer` multiplies by `alpha` alone; its alpha=16 at
rank 16 is our alpha=256. We follow `peft`'s convention, which the tests use as an oracle.)

After training the update can be *merged*: W' = W + (alpha / r) B @ A gives the same outputs
with no extra cost at inference, and a plain model to sample or export; `unmerge` subtracts it
again. The adapter alone (the A and B of every adapted layer, a small file) is what a LoRA
fine-tune adds to its base: `adapter_state_dict` / `load_adapter_state_dict`.

Names stay GPT-2's: an adapted layer keeps `weight` and `bias` under its own name and adds
`lora_A` and `lora_B` beside them (`transformer.h.0.attn.c_attn.lora_A`), so the base weights
load into an adapted model unchanged. A tied LM head cannot be adapted (merging into it would
change the token embedding it shares its matrix with).
Left out: which layers a fine-tune adapts and freezing the rest (`model.py`), and the adapter
file (`files.py`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gptstudio.core.errors import ConfigError

# The linear layers of a GPT block, by the end of their names (GPT-2's names).
BLOCK_LINEARS = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
LORA_TARGETS = (*BLOCK_LINEARS, "lm_head")


@dataclass(frozen=True)
class LoRAConfig:
    """rank: r, the rank of the update; alpha: its scale is alpha / rank; dropout: applied to
    the adapter's input only; targets: the layers adapted, by name suffix (`LORA_TARGETS`)."""

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    targets: tuple[str, ...] = BLOCK_LINEARS

    def __post_init__(self) -> None:
        if isinstance(self.rank, bool) or not isinstance(self.rank, int) or self.rank < 1:
            raise ConfigError(f"The LoRA rank must be a whole number of at least 1, got "
                              f"{self.rank!r}.")
        if isinstance(self.alpha, bool) or not isinstance(self.alpha, (int, float)) \
                or not math.isfinite(self.alpha) or self.alpha <= 0:
            raise ConfigError(f"LoRA alpha must be a number above 0, got {self.alpha!r}.")
        if not isinstance(self.dropout, (int, float)) or not 0 <= self.dropout < 1:
            raise ConfigError(f"LoRA dropout must be in [0, 1), got {self.dropout!r}.")
        object.__setattr__(self, "targets", tuple(self.targets))
        unknown = [t for t in self.targets if t not in LORA_TARGETS]
        if unknown or not self.targets:
            raise ConfigError(f"Unknown LoRA target {unknown[0] if unknown else '(none)'!r}; "
                              f"choose from {', '.join(LORA_TARGETS)}.")

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank

    def to_dict(self) -> dict:
        return {"rank": self.rank, "alpha": self.alpha, "dropout": self.dropout,
                "targets": list(self.targets)}

    @classmethod
    def from_dict(cls, d: dict) -> LoRAConfig:
        try:
            return cls(rank=d["rank"], alpha=d["alpha"], dropout=d.get("dropout", 0.0),
                       targets=tuple(d.get("targets", BLOCK_LINEARS)))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"A LoRA config is incomplete ({exc!r}).") from None


class LoRALinear(nn.Module):
    """A frozen linear layer plus a trainable low-rank update (see the module docstring).

    Takes over `base`'s own weight and bias tensors (same objects, same memory layout).
    """

    def __init__(self, base: nn.Linear, config: LoRAConfig) -> None:
        super().__init__()
        out_features, in_features = base.weight.shape
        if config.rank > min(in_features, out_features):
            raise ConfigError(
                f"A LoRA rank of {config.rank} is larger than the layer it adapts "
                f"({out_features} x {in_features}): its update could have rank "
                f"{min(in_features, out_features)} at most. Choose a rank of at most that."
            )
        self.in_features, self.out_features = in_features, out_features
        self.weight = base.weight
        self.bias = base.bias
        self.weight.requires_grad_(False)
        if self.bias is not None:
            self.bias.requires_grad_(False)
        self.rank, self.scaling = config.rank, config.scaling
        self.lora_A = nn.Parameter(torch.empty(config.rank, in_features, device=base.weight.device))
        self.lora_B = nn.Parameter(torch.zeros(out_features, config.rank,
                                               device=base.weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # nn.Linear's (and peft's) init
        self.lora_dropout = nn.Dropout(config.dropout) if config.dropout > 0 else nn.Identity()
        self.merged = False

    def delta_weight(self) -> torch.Tensor:
        """The update ΔW = (alpha / r) B @ A, shaped like the weight (out, in)."""
        return (self.lora_B @ self.lora_A) * self.scaling

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in) -> (..., out): the frozen layer plus the low-rank path (unless merged)."""
        y = F.linear(x, self.weight, self.bias)
        if self.merged:
            return y
        # x A^T: (..., r), then B^T: (..., out); never builds the (out, in) update.
        return y + (self.lora_dropout(x) @ self.lora_A.t() @ self.lora_B.t()) * self.scaling

    @torch.no_grad()
    def merge(self) -> None:
        """W += ΔW: the same outputs from the plain layer (idempotent)."""
        if not self.merged:
            self.weight += self.delta_weight().to(self.weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self) -> None:
        """W -= ΔW: back to the frozen base plus the separate update (up to rounding)."""
        if self.merged:
            self.weight -= self.delta_weight().to(self.weight.dtype)
            self.merged = False

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"rank={self.rank}, scaling={self.scaling:g}, merged={self.merged}")


def _targeted(name: str, targets: Iterable[str]) -> bool:
    return any(name == t or name.endswith("." + t) for t in targets)


def apply_lora(model: nn.Module, config: LoRAConfig, *,
               blocks: Iterable[int] | None = None) -> list[str]:
    """Replace the targeted linear layers of `model` by `LoRALinear`s, in place; the names of
    the adapted layers, in order. `blocks`: only these block indices (default all).

    Freezes only the adapted layers' own weights: freezing the rest is the caller's choice.
    The adapters' A matrices draw from torch's global generator: seed it first.
    """
    wanted = None if blocks is None else {int(b) for b in blocks}
    tied_head = getattr(getattr(model, "config", None), "tie_weights", False)
    if "lm_head" in config.targets and tied_head:
        raise ConfigError("The LM head of this model shares its matrix with the token embedding "
                          "(tied weights), so LoRA cannot adapt it; leave lm_head out of the "
                          "targets.")
    chosen = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and _targeted(name, config.targets):
            block = block_index(name)
            if wanted is None or block is None or block in wanted:
                chosen.append(name)
    if not chosen:
        raise ConfigError(f"No layer of this model matches the LoRA targets "
                          f"({', '.join(config.targets)}).")
    for name in chosen:
        parent_name, _, attr = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, attr, LoRALinear(getattr(parent, attr), config))
    return chosen


def block_index(name: str) -> int | None:
    """3 for "transformer.h.3.attn.c_attn"; None for a layer outside the blocks (lm_head)."""
    parts = name.split(".")
    for i, part in enumerate(parts[:-1]):
        if part == "h" and parts[i + 1].isdigit():
            return int(parts[i + 1])
    return None


def lora_layers(model: nn.Module) -> Iterator[tuple[str, LoRALinear]]:
    """(name, layer) of every adapted layer."""
    for name, module in model.named_modules():
        if isinstance(module, LoRALinear):
            yield name, module


def merge_lora(model: nn.Module) -> None:
    """Merge every adapter into its layer's weight (see `LoRALinear.merge`)."""
    for _, layer in lora_layers(model):
        layer.merge()


def unmerge_lora(model: nn.Module) -> None:
    """Take every merged adapter out of its layer's weight again."""
    for _, layer in lora_layers(model):
        layer.unmerge()


def adapter_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter alone: `<layer>.lora_A` and `<layer>.lora_B` of every adapted layer (CPU
    copies, contiguous: ready for safetensors)."""
    out = {}
    for name, layer in lora_layers(model):
        out[f"{name}.lora_A"] = layer.lora_A.detach().to("cpu").contiguous().clone()
        out[f"{name}.lora_B"] = layer.lora_B.detach().to("cpu").contiguous().clone()
    return out


def load_adapter_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Put an adapter (`adapter_state_dict`'s form) into a model adapted the same way;
    ConfigError naming what does not fit."""
    layers = dict(lora_layers(model))
    expected = {f"{n}.lora_{m}" for n in layers for m in "AB"}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ConfigError("The adapter does not fit this model: "
                          + "; ".join(p for p in (
                              "missing " + ", ".join(missing[:3]) if missing else "",
                              "unexpected " + ", ".join(extra[:3]) if extra else "") if p) + ".")
    with torch.no_grad():
        for name, layer in layers.items():
            for part in ("lora_A", "lora_B"):
                tensor, target = state[f"{name}.{part}"], getattr(layer, part)
                if tensor.shape != target.shape:
                    raise ConfigError(f"The adapter's {name}.{part} is {tuple(tensor.shape)}, "
                                      f"but this model's is {tuple(target.shape)} (another rank?).")
                target.copy_(tensor)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) numbers of parameters; a tied matrix counts once."""
    params = list(model.parameters())  # parameters() lists a shared tensor once
    return sum(p.numel() for p in params if p.requires_grad), sum(p.numel() for p in params)
