"""How surprised is the model? The loss of every token of a text, and the passage's average.

Training minimises the cross-entropy of each next token: -log p(token | the text before it).
Scoring a text shows that number token by token: a low loss is a token the model expected, a
high one surprised it. The passage's mean loss is what the training curve plots, and its
exponential is the perplexity ("as unsure as choosing among N tokens").

The text is read with an end-of-text token in front when the tokenizer has one, so the first
token is scored too (as the start of a document); otherwise the first token has no score.
Texts longer than the context are read in windows of block_size that overlap by half, and
every token is scored once, with at least half a block of context before it (all of it, inside
the first window).

Left out: the training loss over batches (`core.train.evaluation`) and drawing (the app).
"""

from __future__ import annotations

import codecs
import math
import threading
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from gptstudio.core.errors import Cancelled, ConfigError
from gptstudio.core.tokenizers.pieces import readable


@dataclass(frozen=True)
class TokenScore:
    """One token of the scored text."""

    id: int
    piece: str  # its text; pieces concatenate to the text ("" for a token ending mid-character)
    label: str  # its bytes, readable on their own (loose bytes as ⟨..⟩)
    loss: float | None  # -ln p(token | before), nats; None for an unscored first token
    prob: float | None  # p(token | before)
    best_id: int | None  # what the model thought most likely there
    best_label: str | None
    best_prob: float | None


@dataclass(frozen=True)
class TextScore:
    tokens: tuple[TokenScore, ...]
    mean_loss: float  # over the scored tokens (nan if none)
    n_scored: int
    n_bytes: int  # UTF-8 bytes of the scored tokens

    @property
    def perplexity(self) -> float:
        return math.exp(self.mean_loss) if self.mean_loss == self.mean_loss else float("nan")

    @property
    def bits_per_byte(self) -> float:
        if not self.n_bytes:
            return float("nan")
        return self.mean_loss * self.n_scored / (self.n_bytes * math.log(2))


def score_text(
    model: torch.nn.Module,
    tokenizer: Any,
    text: str,
    *,
    cancel: threading.Event | None = None,
) -> TextScore:
    """Each token's loss under `model` (see the module docstring). ConfigError for an empty
    text, TokenizerError for characters the tokenizer cannot encode, Cancelled if `cancel` is
    set between windows."""
    ids = tokenizer.encode(text, allowed_special="all")
    if not ids:
        raise ConfigError("Paste or type some text to score.")
    start_token = [tokenizer.eot_id] if tokenizer.eot_id is not None else []
    seq = start_token + ids
    block = model.config.block_size
    if block < 2:
        raise ConfigError("Scoring needs a model that reads at least 2 tokens (block_size).")
    overlap = max(1, block // 2)  # context kept from one window into the next
    device = next(model.parameters()).device
    # losses[j], probs[j], best[j] for the prediction of seq[j] (j >= 1).
    losses: dict[int, tuple[float, float, int, float]] = {}
    was_training = model.training
    model.eval()
    try:
        window_start, scored_to = 0, 1
        while scored_to < len(seq):
            if cancel is not None and cancel.is_set():
                raise Cancelled("Scoring stopped.")
            window = seq[window_start:window_start + block]
            with torch.inference_mode():
                logits = model(torch.tensor([window], device=device)).logits[0].float()
            # logits[i] predicts seq[window_start + i + 1].
            end = window_start + len(window)
            rows = torch.arange(scored_to - window_start - 1, end - window_start - 1)
            targets = torch.tensor(seq[scored_to:end])
            log_probs = F.log_softmax(logits[rows], dim=-1)
            picked = log_probs.gather(1, targets[:, None])[:, 0]
            best_lp, best_id = log_probs.max(dim=-1)
            for k, j in enumerate(range(scored_to, end)):
                losses[j] = (-float(picked[k]), float(picked[k].exp()), int(best_id[k]),
                             float(best_lp[k].exp()))
            scored_to = end
            window_start = end - overlap
    finally:
        model.train(was_training)

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    tokens, n_bytes = [], 0
    offset = len(start_token)
    for j in range(offset, len(seq)):
        raw = tokenizer.token_bytes(seq[j])
        piece = decoder.decode(raw, final=j == len(seq) - 1)
        scored = losses.get(j)
        if scored is not None:
            n_bytes += len(raw)
        loss, prob, best, best_prob = scored if scored else (None, None, None, None)
        tokens.append(TokenScore(
            id=seq[j], piece=piece, label=readable(raw), loss=loss, prob=prob, best_id=best,
            best_label=readable(tokenizer.token_bytes(best)) if best is not None else None,
            best_prob=best_prob))
    scored_losses = [t.loss for t in tokens if t.loss is not None]
    mean = sum(scored_losses) / len(scored_losses) if scored_losses else float("nan")
    return TextScore(tuple(tokens), mean, len(scored_losses), n_bytes)
