"""One generation from start to end: its text, why it stopped, its timings, and branches.

`stream_tokens` (sampling.py) yields tokens; the CLI, the app and the benchmark all need the
same things around that stream, computed here once:

- `run_generation(...)` consumes the stream, hands the tokens to a callback in batches (every
  token, or at most every `batch_seconds`, the first one at once: a GUI wants few, timely
  updates), and returns a `GenerationResult`: the events, the text cut before a stop string,
  why generation ended (`StopReason`), how much of the prompt was cropped to fit the context,
  the time to the first token and the tokens per second;
- `visible_text(tokenizer, events)`: the pieces joined, plus any bytes of a character the
  stream stopped in the middle of, written as `⟨e2 80⟩` instead of being lost;
- `branch(...)`: continue from a chosen alternative at some position, keeping the text before;
- `parse_stop_strings("\\\\n\\\\n, END")`: stop strings as a person types them in one field
  (escapes, commas); `unescape` for one string given on a command line.

Left out: sampling itself (`sampling.py`) and the distribution shown before it (`next_token.py`).
"""

from __future__ import annotations

import codecs
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from gptstudio.core.errors import ConfigError
from gptstudio.core.sampling import (
    SamplingConfig,
    TokenEvent,
    cut_at_stop,
    prompt_ids,
    stream_tokens,
)
from gptstudio.core.tokenizers.pieces import loose_bytes

# Why a generation ended.
STOP_REASONS = {
    "length": "reached the token limit",
    "eot": "the model ended the text (end-of-text token)",
    "stop_string": "reached a stop string",
    "cancelled": "stopped",
}


@dataclass(frozen=True)
class PromptTokens:
    """A prompt as the model will read it: its ids and how many were cropped on the left."""

    ids: tuple[int, ...]  # all of them (generation crops them itself)
    block_size: int

    @property
    def n_cropped(self) -> int:
        """Tokens beyond the context, which the model will not see."""
        return max(0, len(self.ids) - self.block_size)


def prompt_tokens(tokenizer: Any, prompt: str | Sequence[int], block_size: int) -> PromptTokens:
    """The ids generation will start from (`sampling.prompt_ids`), with the crop it will do."""
    return PromptTokens(tuple(prompt_ids(tokenizer, prompt)), int(block_size))


@dataclass(frozen=True)
class GenerationResult:
    """A finished (or stopped) generation; see the module docstring."""

    events: tuple[TokenEvent, ...]
    text: str  # the visible text, cut before a stop string
    stop_reason: str  # a key of STOP_REASONS
    stop_string: str | None  # the one reached, for stop_reason "stop_string"
    prompt: PromptTokens
    first_token_s: float  # from the call to the first token (nan if none)
    seconds: float  # the whole generation

    @property
    def tokens_per_s(self) -> float:
        return len(self.events) / self.seconds if self.seconds > 0 else float("nan")

    @property
    def stop_message(self) -> str:
        """Why it ended, in words ("reached a stop string "\\n\\n"")."""
        if self.stop_reason == "stop_string":
            return f"{STOP_REASONS['stop_string']} ({self.stop_string!r})"
        return STOP_REASONS[self.stop_reason]


def visible_text(tokenizer: Any, events: Sequence[TokenEvent]) -> str:
    """The pieces joined; the bytes of a character left incomplete at the end as `⟨..⟩`.

    A token may end in the middle of a multi-byte character (its piece is then ""); when the
    stream ends there, those bytes would vanish. They are shown instead.
    """
    text = "".join(e.piece for e in events)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    for event in events[-8:]:  # a character has at most 4 bytes: the tail is enough
        decoder.decode(tokenizer.token_bytes(event.id))
    pending, _ = decoder.getstate()
    return text + loose_bytes(pending) if pending else text


def run_generation(
    model: torch.nn.Module,
    tokenizer: Any,
    prompt: str | Sequence[int],
    config: SamplingConfig,
    *,
    cancel: threading.Event | None = None,
    on_tokens: Callable[[list[TokenEvent]], None] | None = None,
    batch_seconds: float = 0.0,
    first_events: Sequence[TokenEvent] = (),
) -> GenerationResult:
    """Generate (see the module docstring). `on_tokens` gets the new events in order, in
    batches no more often than every `batch_seconds` (0: each token), the first token alone
    and at once, and whatever is left when the generation ends, however it ends.

    `first_events` are tokens already chosen before `prompt` ends (a branch's chosen token):
    they count in the result's events and text, and are not passed to `on_tokens`.
    """
    start = time.perf_counter()
    info = prompt_tokens(tokenizer, prompt, model.config.block_size)
    events: list[TokenEvent] = list(first_events)
    batch: list[TokenEvent] = []
    first_token_s, sent_at = float("nan"), start

    def flush() -> None:
        nonlocal sent_at, batch
        if batch and on_tokens is not None:
            on_tokens(batch)
        batch, sent_at = [], time.perf_counter()

    try:
        for event in stream_tokens(model, tokenizer, list(info.ids), config, cancel):
            now = time.perf_counter()
            if first_token_s != first_token_s:  # nan: this is the first token
                first_token_s = now - start
            events.append(event)
            batch.append(event)
            if len(events) == 1 or now - sent_at >= batch_seconds:
                flush()
    finally:
        flush()
    seconds = time.perf_counter() - start
    full = visible_text(tokenizer, events)
    text, stop = cut_at_stop(full, config.stop_strings)
    n_new = len(events) - len(first_events)
    if cancel is not None and cancel.is_set():
        reason = "cancelled"
    elif stop is not None:
        reason = "stop_string"
    elif n_new >= config.max_new_tokens:
        reason = "length"
    else:
        reason = "eot"
    return GenerationResult(tuple(events), text, reason, stop, info, first_token_s, seconds)


@dataclass(frozen=True)
class Branch:
    """Where a branch continues from: the ids to feed, and the events it keeps (the chosen
    alternative last)."""

    ids: tuple[int, ...]  # prompt + kept tokens + the chosen one
    events: tuple[TokenEvent, ...]


def branch(
    tokenizer: Any,
    prompt: Sequence[int],
    events: Sequence[TokenEvent],
    index: int,
    token_id: int,
) -> Branch:
    """Take `token_id` instead of the token at `index` (one of its alternatives, usually) and
    keep `events[:index]`; `branch.ids` is what `run_generation` continues from.

    The chosen token gets the probability it had at that position (from the alternatives;
    0.0 if it was not among them) and a piece that completes any character the kept text ends
    in the middle of.
    """
    if not 0 <= index < len(events):
        raise ConfigError(f"There is no generated token at position {index} to branch from.")
    if not 0 <= token_id < tokenizer.vocab_size:
        raise ConfigError(f"Token id {token_id} is not in the vocabulary.")
    kept = list(events[:index])
    at = events[index]
    prob = next((p for i, _, p in at.alternatives if i == token_id), 0.0)
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    before = list(prompt) + [e.id for e in kept]
    decoder.decode(b"".join(tokenizer.token_bytes(i) for i in before[-8:]))
    piece = decoder.decode(tokenizer.token_bytes(token_id))
    chosen = TokenEvent(id=token_id, piece=piece, prob=prob, alternatives=at.alternatives)
    return Branch(ids=tuple(before + [token_id]), events=tuple(kept + [chosen]))


_ESCAPES = {"n": "\n", "t": "\t", ",": ",", "\\": "\\"}


def unescape(text: str) -> str:
    r"""One stop string as typed on a command line: \n, \t and \\ become what they name.

    >>> unescape(r"\n\nTHE END") == "\n\nTHE END"
    True
    >>> unescape(r"a\\n, b")  # an escaped backslash; commas are plain here
    'a\\n, b'
    """
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in "nt\\":
            out.append(_ESCAPES[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_stop_strings(text: str) -> tuple[str, ...]:
    r"""Stop strings typed in one line: separated by commas, with \n, \t, \, and \\ escapes.

    >>> parse_stop_strings(r"\n\n, THE END,  \,")
    ('\n\n', 'THE END', ',')
    >>> parse_stop_strings("")
    ()
    """
    out, current, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in _ESCAPES:
            current.append(("escaped", _ESCAPES[text[i + 1]]))
            i += 2
            continue
        if ch == ",":
            out.append(current)
            current = []
        else:
            current.append(("plain", ch))
        i += 1
    out.append(current)
    stops = []
    for parts in out:
        # Spaces around a comma are separators' padding; escaped characters are kept.
        while parts and parts[0] == ("plain", " "):
            parts.pop(0)
        while parts and parts[-1] == ("plain", " "):
            parts.pop()
        if parts:
            stops.append("".join(ch for _, ch in parts))
    return tuple(stops)
