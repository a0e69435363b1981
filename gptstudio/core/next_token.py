"""The next token's distribution as the sampler will see it: every candidate and what cut it.

Generation scores the whole vocabulary, then temperature, top-k and top-p reshape that score
into the distribution a token is drawn from (`sampling.next_token_probs`, the one rule). To show
a learner what each knob does, this module lays that out for the model's most likely
candidates:

- `model_prob`: the model's own softmax (temperature 1, nothing cut);
- `scaled_prob`: after temperature, before any cut (what top-k and top-p look at);
- `prob`: what sampling really uses, renormalised over the survivors; 0 for a cut candidate;
- `cut`: True when top-k or top-p removed it (with temperature 0, greedy: all but the best).

`next_token_logits(model, tokenizer, prompt)` runs the one forward pass (in a worker, in the
app) and returns the logits as a numpy copy, with the readable labels of the most likely
tokens; `NextTokenLogits.distribution(config)` (or `next_token_distribution(logits, label,
config)`) is cheap (one softmax over the vocabulary), so moving a slider re-shapes the same
logits at once, without the model or the tokenizer.

Left out: drawing the bars (the app) and sampling (`sampling.py`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from gptstudio.core.generation import PromptTokens, prompt_tokens
from gptstudio.core.sampling import SamplingConfig, next_token_probs
from gptstudio.core.tokenizers.pieces import readable

DEFAULT_CANDIDATES = 20


@dataclass(frozen=True)
class Candidate:
    """One possible next token (see the module docstring for the three probabilities)."""

    rank: int  # 0 = the model's most likely token
    id: int
    piece: str  # the token's bytes, readable (loose bytes of a split character as ⟨..⟩)
    model_prob: float
    scaled_prob: float
    prob: float
    cut: bool


@dataclass(frozen=True)
class NextTokenDistribution:
    """The `candidates` (the most likely under the model, most likely first) and the totals."""

    candidates: tuple[Candidate, ...]
    n_kept: int  # tokens of the whole vocabulary that sampling can still pick
    vocab_size: int
    entropy: float  # of the sampling distribution, in nats (0 for greedy)
    greedy: bool

    @property
    def kept(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if not c.cut)


def token_label(tokenizer: Any) -> Callable[[int], str]:
    """A token's readable label: its bytes, loose bytes of a split character as ⟨..⟩."""
    return lambda i: readable(tokenizer.token_bytes(i))


@dataclass(frozen=True)
class NextTokenLogits:
    """The model's scores for the token after `prompt` (plain numpy, safe to keep), and the
    labels of its `len(labels)` most likely tokens (enough to draw them without a tokenizer)."""

    logits: np.ndarray  # float32 (vocab_size,), a copy
    prompt: PromptTokens
    labels: dict[int, str]

    def distribution(self, config: SamplingConfig,
                     n: int = DEFAULT_CANDIDATES) -> NextTokenDistribution:
        """`next_token_distribution` of these logits, for at most len(labels) candidates."""
        label = lambda i: self.labels.get(i, f"#{i}")  # noqa: E731 - a short lookup
        return next_token_distribution(self.logits, label, config, min(n, len(self.labels)))


def next_token_logits(model: torch.nn.Module, tokenizer: Any, prompt: str | Sequence[int],
                      n_labels: int = DEFAULT_CANDIDATES) -> NextTokenLogits:
    """One forward pass over the prompt's last block_size tokens (no gradients, eval mode)."""
    info = prompt_tokens(tokenizer, prompt, model.config.block_size)
    ids = list(info.ids[-model.config.block_size:])
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            logits = model(torch.tensor([ids], device=device)).logits[0, -1]
    finally:
        model.train(was_training)
    scores = logits.to("cpu", torch.float32, copy=True).numpy()
    top = _top(torch.as_tensor(scores), n_labels)
    label = token_label(tokenizer)
    return NextTokenLogits(scores, info, {i: label(i) for i in top})


def _top(scores: torch.Tensor, n: int) -> list[int]:
    """The n most likely ids, most likely first (the one ranking both functions use)."""
    return torch.topk(torch.softmax(scores, dim=-1), min(n, scores.numel())).indices.tolist()


def next_token_distribution(
    logits: np.ndarray | torch.Tensor,
    label: Callable[[int], str],
    config: SamplingConfig,
    n: int = DEFAULT_CANDIDATES,
) -> NextTokenDistribution:
    """The `n` most likely candidates under `config` (see the module docstring); `label(id)`
    names a token (`token_label(tokenizer)`).

    >>> d = next_token_distribution(np.log([0.6, 0.3, 0.1]), "abc".__getitem__,
    ...                             SamplingConfig(top_k=2), n=3)
    >>> [(c.piece, round(c.prob, 3), c.cut) for c in d.candidates]
    [('a', 0.667, False), ('b', 0.333, False), ('c', 0.0, True)]
    """
    scores = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    model_probs = torch.softmax(scores, dim=-1)
    greedy = config.temperature == 0
    if greedy:
        scaled = model_probs
        probs = torch.zeros_like(model_probs)
        probs[int(torch.argmax(model_probs))] = 1.0
    else:
        scaled = torch.softmax(scores / config.temperature, dim=-1)
        probs = next_token_probs(scores, config)
    candidates = tuple(
        Candidate(rank=rank, id=i, piece=label(i), model_prob=float(model_probs[i]),
                  scaled_prob=float(scaled[i]), prob=float(probs[i]), cut=bool(probs[i] <= 0))
        for rank, i in enumerate(_top(scores, n))
    )
    kept = probs[probs > 0]
    entropy = float(-(kept * kept.log()).sum()) if len(kept) > 1 else 0.0
    return NextTokenDistribution(candidates, int(len(kept)), int(scores.numel()),
                                 entropy if math.isfinite(entropy) else 0.0, greedy)
