"""What the tab's views ask the background to compute, and what comes back: plain data, no Qt.

A view (the main token view, a compare column, the BPE scrub view) asks for the tokens of a text
under one tokenizer; `explain_views` answers all of a round's requests in one worker job, with
core's functions (`tokenizers.explain`): the spans of the part a view shows (at most
`max_chars`), the counts for the whole text, the shown text with control characters drawn as
pictures, and a colour slot per token. A tokenizer that cannot read the text (a character
vocabulary missing a character) is an answer too: its message, shown beside that view.
Left out: drawing (`token_view.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gptstudio.core.errors import GPTStudioError
from gptstudio.core.tokenizers import ENDOFTEXT, Tokenizer
from gptstudio.core.tokenizers.explain import (
    TokenSpans,
    TokenStats,
    color_slots,
    explain_text,
    shown_part,
    token_stats,
)
from gptstudio.core.tokenizers.pieces import display_text, has_controls

MAX_VIEW_CHARS = 2_000_000  # a view draws at most this much of a longer text (counts: all)
N_COLORS = 12  # token colours (theme.py-like palettes in token_view.py)


@dataclass(frozen=True, eq=False)
class ViewRequest:
    """The tokens of `text` under a tokenizer (given, or built in the worker by `build`)."""

    key: str  # which view asks
    text: str
    allowed_special: str  # "all": specials as their ids; "none": as plain text
    tokenizer: Tokenizer | None = None
    build: Callable[[], Tokenizer] | None = None  # e.g. a BPE cut to its first N merges
    max_chars: int = MAX_VIEW_CHARS
    signature: object = None  # what the view compares to know whether it shows this


@dataclass(frozen=True, eq=False)
class ViewTokens:
    """The answer to one `ViewRequest`."""

    request: ViewRequest
    tokenizer: Tokenizer | None
    spans: TokenSpans | None  # of the shown part; None with an error
    stats: TokenStats | None  # of the whole text
    display: str  # the shown part, control characters as pictures
    slots: np.ndarray  # colour slot of each token
    shades: np.ndarray  # 0/1: neighbours of the same slot alternate
    error: str | None = None

    @property
    def truncated(self) -> bool:
        return self.spans is not None and self.spans.n_chars < len(self.request.text)


def explain_view(request: ViewRequest) -> ViewTokens:
    """One view's tokens (runs in a worker thread)."""
    empty = np.zeros(0, dtype=np.int64)
    tokenizer = request.tokenizer
    try:
        if tokenizer is None and request.build is not None:
            tokenizer = request.build()
        if tokenizer is None:
            return ViewTokens(request, None, None, None, "", empty, empty, None)
        shown = shown_part(request.text, request.max_chars)
        spans = explain_text(tokenizer, shown, allowed_special=request.allowed_special)
        stats = spans.stats if len(shown) == len(request.text) else token_stats(
            tokenizer, request.text, allowed_special=request.allowed_special)
    except GPTStudioError as exc:
        return ViewTokens(request, tokenizer, None, None, "", empty, empty, str(exc))
    slots, shades = color_slots(spans.ids, N_COLORS)
    return ViewTokens(request, tokenizer, spans, stats, display_text(spans.text), slots, shades)


@dataclass(frozen=True, eq=False)
class Explained:
    """A round's answers, and what the text holds that deserves a word beside it."""

    text: str
    views: dict[str, ViewTokens]
    has_special: bool  # <|endoftext|> (or another special) appears in it
    has_controls: bool  # control characters (drawn as pictures: pieces.display_text)


def explain_views(text: str, requests: Sequence[ViewRequest]) -> Explained:
    """Every request of a round, by view key, and the facts about `text` (runs in a worker:
    scanning megabytes is no job for the GUI thread)."""
    return Explained(text, {request.key: explain_view(request) for request in requests},
                     ENDOFTEXT in text, has_controls(text))
