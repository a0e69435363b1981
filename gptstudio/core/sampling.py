"""Sampling: turn a trained model and a prompt into new text, one token at a time.

Each step the model scores every token of the vocabulary (logits); we turn the scores into a
probability distribution and pick the next token from it:

- greedy (`temperature=0`): always the most likely token (deterministic);
- temperature: divide the logits by T before the softmax (T < 1 sharpens, T > 1 flattens);
- top-k: keep only the k most likely tokens;
- top-p ("nucleus"): keep the smallest set of most likely tokens whose probabilities add up to p;
- seed: draws come from a private `torch.Generator`, so one seed gives one text, and the global
  random state (used by training) is left alone.

`stream_tokens` is a generator of `TokenEvent`s (id, text piece, probability, top alternatives)
so the app can show text as it appears; `generate` collects it into a string. Decoding uses the
GPT's KV cache: the prompt is read once, then each new token costs one position. When the cache
is full (block_size positions) it is reset and re-filled with the last three quarters of the
block (`REFILL_FRACTION`), which trades a little context for not re-reading the whole block on
every token. The LSTM carries its hidden state instead. A prompt longer than block_size is
cropped on the left. Generation stops at `max_new_tokens`, at the end-of-text token, at a stop
string, or when `cancel` is set. The prompt is text, or token ids (to continue exactly where
another generation was, e.g. a branch from a chosen alternative: `gptstudio.core.generation`).

Left out: batches of prompts, beam search, repetition penalties; what a generation's text,
stop reason and timings are (`generation.py`); the distribution shown before sampling
(`next_token.py`).
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from gptstudio.core.errors import ConfigError
from gptstudio.core.model.kv_cache import KVCache
from gptstudio.core.model.lstm import LSTMLanguageModel

# After a full cache, re-read this fraction of block_size: the rest of the block is room for
# block_size / 4 new tokens before the next refill.
REFILL_FRACTION = 0.75


@dataclass(frozen=True)
class SamplingConfig:
    """How to pick tokens. temperature 0 = greedy; top_k / top_p None = no cut-off."""

    max_new_tokens: int = 200
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    stop_strings: tuple[str, ...] = ()
    stop_at_eot: bool = True
    n_alternatives: int = 5  # how many top candidates each TokenEvent lists
    use_cache: bool = True  # False re-reads the whole context every token (slow; for comparison)

    def __post_init__(self) -> None:
        def whole(value: Any) -> bool:
            return isinstance(value, int) and not isinstance(value, bool)

        if not whole(self.max_new_tokens) or self.max_new_tokens < 0:
            raise ConfigError(f"max_new_tokens must be 0 or more, got {self.max_new_tokens!r}.")
        if not isinstance(self.temperature, (int, float)) or not 0 <= self.temperature < 1e6:
            raise ConfigError(  # NaN fails the comparison too
                f"temperature must be 0 (greedy) or a positive number below 1e6 (1 samples the "
                f"model's own distribution), got {self.temperature!r}.")
        if self.top_k is not None and (not whole(self.top_k) or self.top_k < 1):
            raise ConfigError(f"top_k must be at least 1 (or unset), got {self.top_k!r}.")
        if self.top_p is not None and (
            not isinstance(self.top_p, (int, float)) or not 0 < self.top_p <= 1
        ):
            raise ConfigError(f"top_p must be in (0, 1] (or unset), got {self.top_p!r}.")
        if self.seed is not None and not whole(self.seed):
            raise ConfigError(f"seed must be a whole number (or unset), got {self.seed!r}.")
        if isinstance(self.stop_strings, str) or not all(
            isinstance(s, str) and s for s in self.stop_strings
        ):
            raise ConfigError(
                f"stop_strings must be a list of non-empty strings, got {self.stop_strings!r}."
            )
        if not whole(self.n_alternatives) or self.n_alternatives < 0:
            raise ConfigError(f"n_alternatives must be 0 or more, got {self.n_alternatives!r}.")
        # Accept a list for convenience; store a tuple so the config stays hashable and frozen.
        object.__setattr__(self, "stop_strings", tuple(self.stop_strings))


@dataclass(frozen=True)
class TokenEvent:
    """One generated token.

    piece: the text this token adds. Pieces concatenate to the generated text; a token that ends
        in the middle of a multi-byte character gives "" and the next one carries the character.
    prob: the probability this token had in the distribution it was drawn from (after
        temperature, top-k and top-p; for greedy, the model's plain softmax).
    alternatives: the most likely candidates of that distribution, (id, readable piece, prob),
        most likely first; the chosen token is among them when it ranks that high.
    """

    id: int
    piece: str
    prob: float
    alternatives: tuple[tuple[int, str, float], ...]


def next_token_probs(logits: torch.Tensor, config: SamplingConfig) -> torch.Tensor:
    """The distribution to sample from, for one position's logits (vocab_size,).

    >>> cfg = SamplingConfig(temperature=1.0, top_k=2)
    >>> next_token_probs(torch.tensor([0.0, 1.0, 2.0]), cfg).tolist()  # 2 best, renormalised
    [0.0, 0.2689414322376251, 0.7310585975646973]
    """
    if config.temperature == 0:
        return torch.softmax(logits.float(), dim=-1)
    logits = logits.float() / config.temperature
    if config.top_k is not None and config.top_k < logits.numel():
        best = torch.topk(logits, config.top_k)
        # Exactly k survivors, even when several logits tie with the k-th.
        logits = torch.full_like(logits, float("-inf")).scatter_(0, best.indices, best.values)
    probs = torch.softmax(logits, dim=-1)
    if config.top_p is not None and config.top_p < 1:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Drop a token when the tokens before it already reach top_p: the most likely token
        # always stays, and the kept set is the smallest one whose mass reaches top_p.
        mass_before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs
        sorted_probs[mass_before >= config.top_p] = 0.0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
        probs = probs / probs.sum()
    return probs


class _ContextReader:
    """Feeds tokens to a model and returns the next-token logits, hiding how the past is kept.

    Three ways: the GPT's KV cache, the LSTM's carried state, or (use_cache=False, or a model
    with neither) re-reading the last block_size tokens every time.
    """

    def __init__(self, model: torch.nn.Module, use_cache: bool) -> None:
        self.model = model
        self.block_size: int = model.config.block_size
        self.device = next(model.parameters()).device
        self.ids: list[int] = []
        self.cache = None
        self.state = None
        self.mode = "window"
        if use_cache and hasattr(model, "new_kv_cache"):
            self.mode = "kv_cache"
        elif use_cache and isinstance(model, LSTMLanguageModel):
            self.mode = "state"

    def _forward(self, ids: Sequence[int], **kwargs: Any) -> Any:
        idx = torch.tensor([list(ids)], dtype=torch.long, device=self.device)  # (1, T)
        return self.model(idx, **kwargs)

    @torch.inference_mode()
    def start(self, prompt_ids: Sequence[int]) -> torch.Tensor:
        """Read the prompt (its last block_size tokens); logits (vocab_size,) for what follows."""
        self.ids = list(prompt_ids)
        window = self.ids[-self.block_size:]
        if self.mode == "kv_cache":
            self.cache = _new_cache(self.model)
            return self._forward(window, kv_cache=self.cache).logits[0, -1]
        if self.mode == "state":
            out = self._forward(window)
            self.state = out.state
            return out.logits[0, -1]
        return self._forward(window).logits[0, -1]

    @torch.inference_mode()
    def push(self, token_id: int) -> torch.Tensor:
        """Append one token; logits (vocab_size,) for the token after it."""
        self.ids.append(token_id)
        if self.mode == "kv_cache":
            if self.cache.remaining == 0:
                # Full: start again from the most recent part of the text (see module docstring).
                self.cache.reset()
                keep = max(1, int(self.block_size * REFILL_FRACTION))
                return self._forward(self.ids[-keep:], kv_cache=self.cache).logits[0, -1]
            return self._forward([token_id], kv_cache=self.cache).logits[0, -1]
        if self.mode == "state":
            out = self._forward([token_id], state=self.state)
            self.state = out.state
            return out.logits[0, -1]
        return self._forward(self.ids[-self.block_size:]).logits[0, -1]


def _new_cache(model: torch.nn.Module) -> KVCache:
    """The model's KV cache; in fp32 for a bf16 model on the CPU, whose attention runs in fp32
    anyway (model/attention.py): stored as bf16, every past key and value would be cast back
    to fp32 for every new token."""
    weight = next(model.parameters())
    if weight.dtype == torch.bfloat16 and weight.device.type == "cpu":
        cfg = model.config
        return KVCache(cfg.n_layer, 1, cfg.n_head, cfg.block_size, cfg.head_dim,
                       dtype=torch.float32, device=weight.device)
    return model.new_kv_cache(batch_size=1)


def prompt_ids(tokenizer: Any, prompt: str | Sequence[int]) -> list[int]:
    """The token ids generation starts from: `prompt` encoded (or as given, when it is ids);
    an empty prompt is the end-of-text token alone (a fresh document). ConfigError when it is
    empty and the tokenizer has no end-of-text token."""
    if isinstance(prompt, str):
        # The person typing a prompt may mean "<|endoftext|>" as the separator: allow specials.
        ids = tokenizer.encode(prompt, allowed_special="all")
    else:
        ids = [int(i) for i in prompt]
    if not ids:
        if tokenizer.eot_id is None:
            raise ConfigError(
                "Type a prompt: this tokenizer has no end-of-text token to start from."
            )
        ids = [tokenizer.eot_id]  # an empty prompt starts a fresh document
    return ids


def stream_tokens(
    model: torch.nn.Module,
    tokenizer: Any,
    prompt: str | Sequence[int],
    config: SamplingConfig,
    cancel: threading.Event | None = None,
) -> Iterator[TokenEvent]:
    """Generate after `prompt`, yielding one TokenEvent per new token (see module docstring).

    The end-of-text token, when it stops generation, is not yielded. The token that completes a
    stop string is yielded (its text is already on screen by then), and generation stops.
    Setting `cancel` stops quietly before the next token. The model is put in eval mode while
    the generator runs and back in its previous mode when it ends or is closed. `prompt` as
    token ids is used as given (see the module docstring).
    """
    ids = prompt_ids(tokenizer, prompt)
    if config.max_new_tokens == 0:
        return
    generator = torch.Generator(device=next(model.parameters()).device)
    if config.seed is None:
        generator.seed()  # a fresh random seed, without touching the global RNG
    else:
        generator.manual_seed(config.seed)
    utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
    if not isinstance(prompt, str):
        # Ids may end inside a character (a branch taken mid-character): read the prompt's
        # bytes first, so the first new piece completes that character.
        utf8.decode(b"".join(tokenizer.token_bytes(i) for i in ids[-8:]))
    longest_stop = max((len(s) for s in config.stop_strings), default=0)
    text = ""
    was_training = model.training
    model.eval()
    try:
        reader = _ContextReader(model, config.use_cache)
        logits = reader.start(ids)
        for step in range(config.max_new_tokens):
            if cancel is not None and cancel.is_set():
                return
            probs = next_token_probs(logits, config)
            if config.temperature == 0:
                token_id = int(torch.argmax(probs))
            else:
                token_id = int(torch.multinomial(probs, 1, generator=generator))
            if config.stop_at_eot and token_id == tokenizer.eot_id:
                return
            piece = utf8.decode(tokenizer.token_bytes(token_id))
            yield TokenEvent(
                id=token_id,
                piece=piece,
                prob=float(probs[token_id]),
                alternatives=_alternatives(probs, tokenizer, config.n_alternatives),
            )
            if longest_stop:
                # Only the tail can hold a stop string that this piece completed.
                text = (text + piece)[-(longest_stop + len(piece)):]
                if any(stop in text for stop in config.stop_strings):
                    return
            if step + 1 < config.max_new_tokens:
                logits = reader.push(token_id)
    finally:
        model.train(was_training)


def _alternatives(
    probs: torch.Tensor, tokenizer: Any, n: int
) -> tuple[tuple[int, str, float], ...]:
    if n == 0:
        return ()
    top = torch.topk(probs, min(n, probs.numel()))
    return tuple(
        (i, tokenizer.token_str(i), p)
        for i, p in zip(top.indices.tolist(), top.values.tolist())
        if p > 0  # filtered-out tokens are not alternatives
    )


def cut_at_stop(text: str, stop_strings: Sequence[str]) -> tuple[str, str | None]:
    """`text` cut just before the first stop string in it, and that string (None if none).

    >>> cut_at_stop("Hello.\\n\\nBye", ["\\n\\n", "Bye"])
    ('Hello.', '\\n\\n')
    """
    cuts = [(text.find(stop), stop) for stop in stop_strings if stop in text]
    if not cuts:
        return text, None
    position, stop = min(cuts)
    return text[:position], stop


def generate(model: torch.nn.Module, tokenizer: Any, prompt: str | Sequence[int],
             config: SamplingConfig) -> str:
    """The generated text (without the prompt), cut just before the first stop string."""
    ids = [event.id for event in stream_tokens(model, tokenizer, prompt, config)]
    return cut_at_stop(tokenizer.decode(ids), config.stop_strings)[0]
