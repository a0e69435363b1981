"""Inference in bf16 weights (opt-in), and how closely its choices agree with fp32.

Decoding one token at a time multiplies a vector by every weight matrix: its speed is how fast
the weights stream from memory, so weights of half the size (bfloat16: fp32's exponent, 8 bits
of mantissa) can nearly double it. `inference_model(model, "bf16")` builds such a copy for
generating; the fp32 model is left as it is (training and checkpoints stay fp32).

The copy stores each linear weight in `nn.Linear`'s own (out, in) layout, not the transposed one
the fp32 model keeps (`model/linear.py`): the CPU's bf16 vector-times-matrix kernels are fast for
that layout and very slow for the other (figures in docs/MEASUREMENTS.md). Attention itself
still runs in fp32 (`model/attention.py`), and so does its KV cache (`sampling.py`). Reading
several positions at once (a prompt) is a matrix-times-matrix product, which a CPU without
native bf16 computes far more slowly in bf16 than it upcasts the weights: there, such inputs run
in fp32 (`PromptInFP32Linear`); decoding's one position stays in bf16.

Rounding the weights moves the logits a little, so where two candidates are nearly tied bf16 may
pick the other one. `compare_precisions` measures that on a text: how often the most likely next
token is the same under both (teacher-forced, at every position of some windows of the text),
and how long greedy continuations of prompts taken from the text stay identical.

Left out: training in bf16 (autocast, `core.train.precision`); an LSTM in bf16.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gptstudio.core.errors import ConfigError
from gptstudio.core.model import GPTConfig, build_model
from gptstudio.core.sampling import SamplingConfig, stream_tokens
from gptstudio.core.train.precision import has_fast_bf16

INFERENCE_PRECISIONS = ("fp32", "bf16")


def check_precision(precision: str) -> str:
    if precision not in INFERENCE_PRECISIONS:
        raise ConfigError(f"Unknown inference precision {precision!r}; use fp32 or bf16.")
    return precision


class PromptInFP32Linear(nn.Linear):
    """A bf16 linear layer: one position in bf16; several (a prompt) in fp32 from upcast weights
    (see the module docstring). Same parameters and state dict as nn.Linear."""

    # One position is F.linear(x, weight, bias): the decode fast path may call that itself.
    decodes_as_linear = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.numel() > x.shape[-1]:  # more than one position
            bias = None if self.bias is None else self.bias.float()
            return F.linear(x.float(), self.weight.float(), bias).to(x.dtype)
        return F.linear(x, self.weight, self.bias)


def inference_model(model: nn.Module, precision: str) -> nn.Module:
    """`model` itself for "fp32"; for "bf16" a new GPT (eval mode, same device) holding bf16
    copies of its weights, tied weights still tied (see the module docstring)."""
    if check_precision(precision) == "fp32":
        return model
    if not isinstance(model.config, GPTConfig):
        raise ConfigError("bf16 inference is for GPT models; the LSTM baseline runs in fp32.")
    with torch.device("meta"):
        copy = build_model(model.config)  # shapes only: nothing random, no memory
    source = dict(model.named_parameters(remove_duplicate=False))
    converted: dict[int, nn.Parameter] = {}  # one copy per source tensor keeps ties
    for module_name, module in copy.named_modules():
        for name, param in list(module._parameters.items()):
            if param is None:  # e.g. a LayerNorm without bias
                continue
            full = f"{module_name}.{name}" if module_name else name
            src = source[full]
            if id(src) not in converted:
                data = src.detach().to(torch.bfloat16).contiguous()  # (out, in) row-major
                converted[id(src)] = nn.Parameter(data, requires_grad=False)
            module._parameters[name] = converted[id(src)]
    device = next(model.parameters()).device
    if device.type == "cpu" and not has_fast_bf16(device):
        for module in copy.modules():
            if isinstance(module, nn.Linear):
                module.__class__ = PromptInFP32Linear  # same fields, another forward
    return copy.eval()


@dataclass(frozen=True)
class PrecisionAgreement:
    """How often a low-precision model chooses as the fp32 one (see the module docstring)."""

    n_positions: int  # teacher-forced positions compared
    top1_same: int  # of them, where both models' most likely token is the same
    n_prompts: int
    greedy_tokens: int  # tokens generated per model, all prompts together
    greedy_same: int  # positions where both greedy continuations agree
    identical_prefixes: tuple[int, ...]  # per prompt: tokens before the first difference
    max_margin: float  # where the two disagreed: the largest fp32 probability of its own choice
    # minus that of the other model's choice (small: bf16 only flips near-ties)

    @property
    def top1_rate(self) -> float:
        return self.top1_same / self.n_positions if self.n_positions else float("nan")

    @property
    def greedy_rate(self) -> float:
        return self.greedy_same / self.greedy_tokens if self.greedy_tokens else float("nan")

    @property
    def identical_rate(self) -> float:
        """Share of the greedy tokens generated before the first difference, all prompts."""
        return sum(self.identical_prefixes) / self.greedy_tokens if self.greedy_tokens \
            else float("nan")


def _windows(ids: Sequence[int], length: int, count: int) -> list[list[int]]:
    """`count` windows of `length` ids spread evenly over `ids` (fewer if it is short)."""
    if len(ids) < length:
        return [list(ids)] if len(ids) >= 2 else []
    last = len(ids) - length
    starts = sorted({round(k * last / max(1, count - 1)) for k in range(count)})
    return [list(ids[s:s + length]) for s in starts]


def compare_precisions(
    reference: nn.Module,
    candidate: nn.Module,
    tokenizer: Any,
    text: str,
    *,
    n_windows: int = 8,
    n_prompts: int = 8,
    prompt_tokens: int = 16,
    new_tokens: int = 32,
) -> PrecisionAgreement:
    """Compare `candidate` (e.g. the bf16 copy) with `reference` (fp32) on `text`."""
    ids = tokenizer.encode(text, allowed_special="all")
    block = reference.config.block_size
    device = next(reference.parameters()).device
    n_positions = top1_same = 0
    max_margin = 0.0
    for window in _windows(ids, block, n_windows):
        idx = torch.tensor([window], device=device)
        with torch.inference_mode():
            ref_probs = torch.softmax(reference(idx).logits[0].float(), dim=-1)  # (T, vocab)
            ref = ref_probs.argmax(dim=-1)
            cand = candidate(idx).logits[0].float().argmax(dim=-1)
        n_positions += len(window)
        top1_same += int((ref == cand).sum())
        rows = torch.nonzero(ref != cand)[:, 0]
        if len(rows):
            margins = ref_probs[rows, ref[rows]] - ref_probs[rows, cand[rows]]
            max_margin = max(max_margin, float(margins.max()))
    cfg = SamplingConfig(max_new_tokens=new_tokens, temperature=0, stop_at_eot=False,
                         n_alternatives=0)
    prefixes, greedy_same, greedy_tokens = [], 0, 0
    for prompt in _windows(ids, min(prompt_tokens, block), n_prompts):
        ref_ids = [e.id for e in stream_tokens(reference, tokenizer, prompt, cfg)]
        cand_ids = [e.id for e in stream_tokens(candidate, tokenizer, prompt, cfg)]
        same = [a == b for a, b in zip(ref_ids, cand_ids)]
        prefixes.append(same.index(False) if False in same else len(same))
        greedy_same += sum(same)
        greedy_tokens += len(ref_ids)
    return PrecisionAgreement(n_positions, top1_same, len(prefixes), greedy_tokens, greedy_same,
                              tuple(prefixes), max_margin)
