"""One prompt seen through a GPT: its attention maps, its next-token guesses, and a logit lens.

`inspect_prompt(model, tokenizer, prompt)` runs the model once on the prompt and returns a
`PromptView`: every layer's attention weights (`AttentionMaps`, as `core.inspect` defines them),
the model's most likely next tokens at every position (`NextTokens`), and optionally the same
guesses read off the residual stream after each layer (the "logit lens": the final LayerNorm and
the LM head applied early, which shows at which depth the answer forms).

The forward is the model's own explicit path, block by block, so the weights are the ones the
blocks really used (a test checks the logits and weights equal `GPT.forward(return_attn=True)`).
It runs in eval mode (no dropout) without gradients and gives the model back in the mode it was
in. Everything returned is a numpy copy: it can cross threads and outlive the model.

Left out: statistics of the maps (`stats.py`), recording them during training (`record.py`),
and drawing (`png.py`, the app).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from gptstudio.core.errors import ConfigError
from gptstudio.core.inspect import AttentionMaps
from gptstudio.core.model import GPTConfig
from gptstudio.core.tokenizers.pieces import readable

if TYPE_CHECKING:
    from gptstudio.core.tokenizers import Tokenizer

TOP_K = 10  # next-token guesses kept per position
_CHUNK = 256  # positions turned into vocabulary-wide probabilities at a time (bounds memory)


@dataclass(frozen=True)
class NextTokens:
    """The k most likely next tokens after every position: `ids[t, r]` is the r-th most likely
    token to follow position t, `probs[t, r]` its probability, `pieces[t][r]` its text."""

    ids: np.ndarray  # (T, k) int64
    probs: np.ndarray  # (T, k) float32, each row sorted, largest first
    pieces: tuple[tuple[str, ...], ...]

    def at(self, position: int) -> list[tuple[str, float]]:
        """[(piece, probability), ...] after `position`, most likely first."""
        return [(piece, float(p)) for piece, p in zip(self.pieces[position], self.probs[position])]


@dataclass(frozen=True)
class PromptView:
    """What the app shows of one prompt: attention, next tokens, and the lens (or None).

    `n_prompt_tokens` counts the prompt's tokens before cropping; when it is larger than the
    number of positions shown (`maps.token_ids`), the first `cropped` tokens were left out.
    """

    maps: AttentionMaps
    n_prompt_tokens: int
    next_tokens: NextTokens
    lens: tuple[NextTokens, ...] | None = None  # after each layer: lens[l] follows block l

    @property
    def step(self) -> int:
        return self.maps.step

    @property
    def cropped(self) -> int:
        """Tokens cut from the start of the prompt to fit the model's context."""
        return self.n_prompt_tokens - len(self.maps.token_ids)

    def cropped_note(self, limit_name: str = "the model reads") -> str:
        """A sentence saying the prompt was cropped, or "" if it was not."""
        if not self.cropped:
            return ""
        shown = len(self.maps.token_ids)
        return (f"The prompt has {self.n_prompt_tokens:,} tokens and {limit_name} {shown:,} at "
                f"once: showing its last {shown:,}.")


def token_label(text: str) -> str:
    """A token's text as a label: spaces, newlines and tabs made visible.

    >>> token_label(" the"), token_label("\\n"), token_label("a\\tb")
    ('␣the', '↵', 'a⇥b')
    """
    out = text.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥").replace("\r", "␍")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in out)


def check_attention_model(model_config: object) -> GPTConfig:
    """The config if it is a GPT's; ConfigError saying so plainly for the LSTM baseline."""
    if not isinstance(model_config, GPTConfig):
        raise ConfigError("This model is the LSTM baseline: an LSTM reads the text through its "
                          "hidden state and has no attention to show. Choose a GPT run.")
    return model_config


def encode_prompt(tokenizer: Tokenizer, prompt: str, max_tokens: int) -> tuple[list[int], int]:
    """(the last `max_tokens` token ids of `prompt`, how many tokens it had in all).

    Special tokens the user typed count as such (`allowed_special="all"`). ConfigError for a
    prompt without tokens; TokenizerError for text the tokenizer cannot encode.
    """
    if not prompt:
        raise ConfigError("Type a prompt to see how the model attends to it.")
    ids = tokenizer.encode(prompt, allowed_special="all")
    if not ids:
        raise ConfigError("The prompt has no tokens to show attention on; type some text.")
    return ids[-max_tokens:], len(ids)


def inspect_prompt(
    model: nn.Module,
    tokenizer: Tokenizer,
    prompt: str,
    *,
    step: int = 0,
    top_k: int = TOP_K,
    logit_lens: bool = False,
    max_tokens: int | None = None,
) -> PromptView:
    """Attention maps and next-token guesses of `model` (a GPT) on `prompt`; see the module.

    The prompt is cropped to its last `max_tokens` tokens (default and at most: the model's
    block_size, the most it reads at once). `logit_lens`: also the top guesses after each layer
    (costs about one LM-head product per layer).
    """
    config = check_attention_model(model.config)
    limit = config.block_size if max_tokens is None else min(max_tokens, config.block_size)
    ids, n_prompt_tokens = encode_prompt(tokenizer, prompt, limit)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            attentions, states = _forward_by_blocks(model, torch.tensor([ids], device=device))
            final = _top_tokens(model, states[-1], top_k)
            lens = tuple(_top_tokens(model, s, top_k) for s in states) if logit_lens else None
    finally:
        model.train(was_training)
    # (1, nh, T, T) per layer -> (nh, T, T) float32 numpy copies on the CPU.
    weights = tuple(a[0].to("cpu", torch.float32, copy=True).numpy() for a in attentions)
    maps = AttentionMaps(step=int(step), token_ids=tuple(ids),
                         tokens=tuple(tokenizer.token_str(i) for i in ids), weights=weights)
    return PromptView(maps=maps, n_prompt_tokens=n_prompt_tokens,
                      next_tokens=_with_pieces(final, tokenizer),
                      lens=None if lens is None else tuple(_with_pieces(t, tokenizer)
                                                           for t in lens))


def _forward_by_blocks(model: nn.Module, idx: torch.Tensor
                       ) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """GPT.forward spelled out: (attention weights per layer, residual stream after each)."""
    t = model.transformer
    positions = torch.arange(idx.shape[1], device=idx.device)  # (T,)
    x = t.drop(t.wte(idx) + t.wpe(positions))  # (1, T, C)
    attentions, states = [], []
    for block in t.h:
        x, attn_weights = block(x, return_attn=True)  # weights (1, nh, T, T)
        attentions.append(attn_weights)
        states.append(x)
    return attentions, states


def _top_tokens(model: nn.Module, state: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, probs), each (T, k): the final norm and LM head applied to `state` (1, T, C)."""
    k = min(k, model.config.vocab_size)
    ids, probs = [], []
    for start in range(0, state.shape[1], _CHUNK):
        # Chunked: (T, vocab) probabilities of a long GPT-2 prompt would take gigabytes.
        logits = model.lm_head(model.transformer.ln_f(state[0, start:start + _CHUNK]))
        top = torch.log_softmax(logits.float(), dim=-1).topk(k, dim=-1)
        ids.append(top.indices.cpu().numpy().astype(np.int64))
        probs.append(top.values.exp().cpu().numpy().astype(np.float32))
    return np.concatenate(ids), np.concatenate(probs)


def _with_pieces(top: tuple[np.ndarray, np.ndarray], tokenizer: Tokenizer) -> NextTokens:
    ids, probs = top
    text = {int(i): readable(tokenizer.token_bytes(int(i))) for i in np.unique(ids)}
    pieces = tuple(tuple(text[int(i)] for i in row) for row in ids)
    return NextTokens(ids=ids, probs=probs, pieces=pieces)
