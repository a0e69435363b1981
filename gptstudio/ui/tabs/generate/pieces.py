"""From the engine's results to the shaded pieces and the sentences the Generate tab shows.

Generated tokens are shaded by how unlikely they were (1 - probability), scored tokens by their
loss relative to a uniform guess over the vocabulary (ln V: as surprised as picking at random),
and each gets a tooltip with its numbers. The status sentences (speed, why it stopped, what was
cropped) are written here too, so the pages only place them. Qt-free. Left out: drawing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gptstudio.core.generation import GenerationResult, PromptTokens
from gptstudio.core.sampling import TokenEvent
from gptstudio.core.scoring import TextScore
from gptstudio.core.tokenizers.pieces import visible
from gptstudio.ui.tabs.generate.shaded_text import Piece

MAX_TOOLTIP_ALTERNATIVES = 8


def _percent(p: float) -> str:
    return f"{100 * p:.1f}%" if p >= 0.001 else f"{100 * p:.2g}%"


def token_tooltip(event: TokenEvent) -> str:
    lines = [f"{visible(event.piece) or '(part of a character)'}   had {_percent(event.prob)}"]
    if event.alternatives:
        lines.append("Top candidates at this point:")
        for _, piece, p in event.alternatives[:MAX_TOOLTIP_ALTERNATIVES]:
            lines.append(f"  {visible(piece):<14} {_percent(p)}")
        lines.append("Click to continue from another one.")
    return "\n".join(lines)


def token_pieces(events: Sequence[TokenEvent], start: int = 0) -> list[Piece]:
    """Pieces for generated tokens; `start` is the index of events[0] in the generation. Their
    tooltips are written on hover (`token_tooltip`), not for every token streamed."""
    return [Piece(e.piece, 1.0 - e.prob, "", start + k) for k, e in enumerate(events)]


def cut_pieces(pieces: Sequence[Piece], n_chars: int) -> list[Piece]:
    """The pieces holding the first `n_chars` characters (the last one trimmed)."""
    out, used = [], 0
    for piece in pieces:
        if used >= n_chars:
            break
        text = piece.text[: n_chars - used]
        out.append(Piece(text, piece.shade, piece.tooltip, piece.index))
        used += len(text)
    return out


def score_pieces(score: TextScore, vocab_size: int) -> list[Piece]:
    uniform = math.log(max(2, vocab_size))
    pieces = []
    for t in score.tokens:
        if t.loss is None:
            pieces.append(Piece(t.piece, 0.0, f"{t.label}: the first token (nothing before it)"))
            continue
        tip = (f"{visible(t.label)}   loss {t.loss:.2f} (p = {_percent(t.prob or 0)})\n"
               f"The model expected {visible(t.best_label or '')!s} "
               f"({_percent(t.best_prob or 0)})")
        pieces.append(Piece(t.piece, min(1.0, t.loss / uniform), tip))
    return pieces


def score_summary(score: TextScore, vocab_size: int) -> str:
    if not score.n_scored:
        return "Nothing to score: the text is a single token."
    return (f"Mean loss {score.mean_loss:.3f} nats per token · perplexity "
            f"{score.perplexity:,.2f} (a uniform guess: {vocab_size:,}) · "
            f"{score.bits_per_byte:.3f} bits per byte · {score.n_scored:,} tokens scored")


def crop_note(prompt: PromptTokens) -> str:
    if not prompt.n_cropped:
        return ""
    return (f"The prompt has {len(prompt.ids):,} tokens but the model reads {prompt.block_size:,} "
            f"at once: the first {prompt.n_cropped:,} were left out.")


def result_summary(result: GenerationResult, n_events: int) -> str:
    speed = result.tokens_per_s
    parts = [f"{n_events:,} tokens"]
    if speed == speed:
        parts.append(f"{speed:,.1f} tokens/s")
    if result.first_token_s == result.first_token_s:
        parts.append(f"first token after {1000 * result.first_token_s:,.0f} ms")
    parts.append(f"ended: {result.stop_message}")
    return " · ".join(parts)


def trailing_bytes_note(result: GenerationResult, kept_text: str) -> str:
    """The loose bytes the result shows after the pieces, if it stopped inside a character."""
    return result.text[len(kept_text):] if result.text.startswith(kept_text) else ""
