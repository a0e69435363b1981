"""`FinetunedGPT`: a pretrained GPT being fine-tuned, what of it trains, and its plain-GPT view.

A fine-tune starts from a base run's weights and changes a part of them:
- a **classifier** (chapter 6) adds a small head that maps the final hidden state of one
  position to one score per class. Which position: the *last real token* of the text (the
  book's choice: with causal attention it is the only one that has seen the whole text), or
  the mean over the text's tokens (`pooling="mean"`). The LM head stays as it was, unused.
- what trains: the last N blocks and the final LayerNorm (`train_last=N`; the book trains
  the last block), or everything (`train_last=None`); 0 = the head alone. The other parameters
  are frozen (`requires_grad=False`): no gradient, no optimizer state, unchanged bit for bit.
  With LoRA, every base weight is frozen and only the adapters (in the last N blocks) train.

`FinetunedGPT` is a `GPT` (same modules under the same names, GPT-2's; the same `forward`, so
sampling, attention maps and the KV cache work as they do on the base) plus the optional
`classifier`. It wraps the base's own modules rather than copying them. `language_model()`
gives a plain `GPT` of the same config with any LoRA update merged and without the head: what is
sampled, snapshotted, evaluated on text and exported. Left out: LoRA itself (`lora.py`).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from gptstudio.core.errors import ConfigError
from gptstudio.core.finetune.lora import LoRAConfig, LoRALinear, apply_lora
from gptstudio.core.inspect import uninitialised_model
from gptstudio.core.model import GPT

Pooling = Literal["last", "mean"]
POOLINGS = ("last", "mean")
CLASSIFIER_PREFIX = "classifier."


class FinetunedGPT(GPT):
    """A GPT with an optional classification head (see the module docstring)."""

    def __init__(self, base: GPT, *, n_classes: int | None = None,
                 pooling: Pooling = "last") -> None:
        # Not GPT.__init__: that would build and initialise new modules. These are the base's.
        nn.Module.__init__(self)
        if not isinstance(base, GPT):
            raise ConfigError("Only a GPT can be fine-tuned here (the LSTM baseline cannot).")
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}.")
        self.config = base.config
        self.transformer = base.transformer
        self.lm_head = base.lm_head
        self.pooling = pooling
        self.classifier: nn.Linear | None = None
        if n_classes is not None:
            if n_classes < 2:
                raise ConfigError("A classifier needs at least two classes.")
            self.classifier = nn.Linear(self.config.n_embd, n_classes,
                                        device=self.lm_head.weight.device)

    def features(self, idx: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, T, C) final hidden states: `forward` without the LM head.

        It mirrors GPT.forward step by step (a test checks lm_head(features) == logits), so a
        classifier never pays for the (B, T, vocab) logits it does not use.
        """
        B, T = idx.shape
        if T > self.config.block_size:
            raise ConfigError(f"The model reads at most {self.config.block_size} tokens at "
                              f"once, but got {T}.")
        positions = torch.arange(T, device=idx.device)  # (T,)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(positions))
        for block in self.transformer.h:
            x, _ = block(x)
        return self.transformer.ln_f(x)  # (B, T, C)

    def classify(self, idx: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T) padded ids and (B,) real lengths -> (B, n_classes) class scores (logits)."""
        if self.classifier is None:
            raise ConfigError("This model has no classification head.")
        hidden = self.features(idx)  # (B, T, C)
        if self.pooling == "last":
            # The last real token: causal attention makes it the summary of the whole text,
            # and padding after it never reaches it.
            pooled = hidden[torch.arange(idx.shape[0], device=idx.device), lengths - 1]
        else:
            mask = torch.arange(idx.shape[1], device=idx.device)[None, :] < lengths[:, None]
            pooled = (hidden * mask[..., None]).sum(1) / lengths[:, None].to(hidden.dtype)
        return self.classifier(pooled)  # (B, n_classes)

    def language_model(self) -> GPT:
        """A plain GPT (CPU or the same device, eval mode) with these weights, LoRA merged,
        without the head: an independent copy."""
        state = merged_state_dict(self)
        gpt = uninitialised_model(self.config)  # no draws from (or restores of) the global RNG
        gpt.to(self.lm_head.weight.device)
        gpt.load_state_dict(state)
        return gpt.eval()


@torch.no_grad()
def merged_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """`model`'s state dict under plain GPT names: each LoRA update added to its weight (the
    model itself is left as it is), the adapters and the classifier left out."""
    adapted = {name for name, module in model.named_modules() if isinstance(module, LoRALinear)}
    state = {}
    for name, tensor in model.state_dict().items():
        owner, _, part = name.rpartition(".")
        if name.startswith(CLASSIFIER_PREFIX) or (owner in adapted and part.startswith("lora_")):
            continue
        if owner in adapted and part == "weight":
            layer = model.get_submodule(owner)
            if not layer.merged:
                tensor = tensor + layer.delta_weight().to(tensor.dtype)
        state[name] = tensor
    return state


def set_trainable(model: FinetunedGPT, *, train_last: int | None,
                  lora: LoRAConfig | None = None) -> list[str]:
    """Freeze `model` for a fine-tune, adding LoRA adapters if asked; the trainable names.

    train_last=None: every block (LoRA: adapters in every block; full: every weight, the LM
    head included only for an LM objective, i.e. when there is no classifier). N >= 1: the last
    N blocks and the final norm (LoRA: adapters in the last N blocks only). 0: the head alone.
    A classifier's head always trains. With LoRA the adapters' A matrices draw from torch's
    generator: seed it first.
    """
    n_layer = model.config.n_layer
    if train_last is not None and not 0 <= train_last <= n_layer:
        raise ConfigError(f"The base model has {n_layer} blocks: train the last 0 to {n_layer} "
                          f"of them, got {train_last}.")
    if train_last == 0 and (model.classifier is None or lora is not None):
        raise ConfigError("Training 0 blocks leaves only a classifier's head to train; choose "
                          "at least one block.")
    first = 0 if train_last is None else n_layer - train_last
    for param in model.parameters():
        param.requires_grad_(False)
    if lora is not None:
        apply_lora(model, lora, blocks=range(first, n_layer))
        for module in model.modules():
            if isinstance(module, LoRALinear):
                module.lora_A.requires_grad_(True)
                module.lora_B.requires_grad_(True)
    elif train_last is None:
        for param in model.parameters():
            param.requires_grad_(True)
        if model.classifier is not None and not model.config.tie_weights:
            model.lm_head.weight.requires_grad_(False)  # unused by the classifier's loss
    elif train_last > 0:
        for block in model.transformer.h[first:]:
            block.requires_grad_(True)
        model.transformer.ln_f.requires_grad_(True)
    if model.classifier is not None:
        model.classifier.requires_grad_(True)
    return [name for name, p in model.named_parameters() if p.requires_grad]
