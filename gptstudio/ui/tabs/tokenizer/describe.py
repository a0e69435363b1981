"""Words for what core computed: a token's hover text, its merge history, a text's counts.

Every fact comes from core (`tokenizers.explain`, `tokenizers.lineage`); this module only puts
them into sentences and small HTML (token chips in the token view's colours). Left out: the
widgets that show them.
"""

from __future__ import annotations

import html
import math
import unicodedata

import numpy as np

from gptstudio.core.tokenizers import Tokenizer
from gptstudio.core.tokenizers.explain import (
    SplitChar,
    TokenSpans,
    TokenStats,
    color_slots,
    token_info,
)
from gptstudio.core.tokenizers.lineage import TokenLineage
from gptstudio.core.tokenizers.pieces import readable, visible
from gptstudio.ui.tabs.tokenizer.jobs import N_COLORS
from gptstudio.ui.tabs.tokenizer.token_view import drawable, token_color


def piece_label(tokenizer: Tokenizer, token_id: int) -> str:
    """A token as a short visible label: '␣the', '⟨c3⟩', '<|endoftext|>'."""
    return drawable(visible(readable(tokenizer.token_bytes(token_id))))


def char_name(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}{' ' + name if name else ''}"


def hover_text(tokenizer: Tokenizer, spans: TokenSpans, index: int,
               split: SplitChar | None = None) -> str:
    """The hover read-out of token `index` (or of the split character under the mouse)."""
    if split is not None:
        lines = [f"'{split.char}' ({char_name(split.char)}) is split over "
                 f"{len(split.tokens)} byte tokens:"]
        for i in split.tokens:
            info = token_info(tokenizer, spans, i)
            lines.append(f"  token {i + 1:,}: id {info.id:,}  {info.readable}  "
                         f"(bytes {info.hex})")
        return "\n".join(lines)
    info = token_info(tokenizer, spans, index)
    shown = drawable(visible(info.text)) if info.text else "(inside a split character)"
    lines = [f"token {index + 1:,} of {len(spans):,} · id {info.id:,}",
             f"bytes: {info.hex} ({len(info.data)})", f"text: {shown}"]
    controls = [ch for ch in info.text if unicodedata.category(ch) == "Cc" and ch not in "\n\t"]
    if controls:
        lines.append("control characters: " + ", ".join(char_name(ch) for ch in controls))
    if info.special:
        lines.append("a special token: one reserved id, never split or merged")
    elif info.merge is not None:
        lines.append(f"BPE rank {info.rank:,}: made by merge {info.merge + 1:,}")
    elif info.rank is not None:
        lines.append(f"BPE rank {info.rank}: a single byte (no merge)")
    return "\n".join(lines)


def chip(tokenizer: Tokenizer, token_id: int, *, strong: bool = False) -> str:
    """A token as a coloured chip of HTML, in the token view's colour for that id."""
    slot = int(color_slots(np.array([token_id]), N_COLORS)[0][0])
    text = html.escape(piece_label(tokenizer, token_id))
    weight = "font-weight:bold;" if strong else ""
    return (f'<span style="background-color:{token_color(slot)};{weight}'
            f'font-family:monospace">&nbsp;{text}&nbsp;</span>')


def lineage_html(tokenizer: Tokenizer, lineage: TokenLineage) -> str:
    """How a token was built, from its bytes up: one row per merge, the parts after it."""
    token = chip(tokenizer, lineage.id, strong=True)
    head = f"<p>{token} &nbsp;id {lineage.id:,}</p>"
    if lineage.kind == "special":
        return head + "<p>A special token: one reserved id. It is never merged; the corpus " \
                      "uses &lt;|endoftext|&gt; to separate documents.</p>"
    if lineage.kind == "char":
        return head + "<p>A character tokenizer has one id per character and no merges.</p>"
    if lineage.kind == "byte":
        return head + "<p>A single byte: one of the 256 tokens every byte-level BPE starts " \
                      "with. No merge made it.</p>"
    parts = list(lineage.byte_ids)
    rows = [f"<tr><td>bytes</td><td>{''.join(chip(tokenizer, i) for i in parts)}</td></tr>"]
    for step in lineage.steps:
        for k in range(len(parts) - 1):  # the leftmost place this pair stands side by side
            if parts[k] == step.left and parts[k + 1] == step.right:
                parts[k:k + 2] = [step.rank]
                break
        shown = "".join(chip(tokenizer, i, strong=i == step.rank) for i in parts)
        rows.append(f"<tr><td>merge {step.merge + 1:,}&nbsp;</td><td>{shown}</td></tr>")
    n = len(lineage.steps)
    return (head + f"<p>Built from {len(lineage.byte_ids)} bytes by {n} merge"
            f"{'s' if n != 1 else ''}, lowest rank first (as training learnt them):</p>"
            f"<table cellspacing='2'>{''.join(rows)}</table>")


def stats_text(stats: TokenStats | None, *, shown_chars: int | None = None) -> str:
    """"1,234 tokens · 3.6 characters per token · 3.7 bytes per token" (and a cut note)."""
    if stats is None:
        return ""
    if stats.n_chars == 0:
        return "No text yet: type or paste some, or take a passage of the corpus."
    text = (f"{stats.n_tokens:,} tokens · {_number(stats.chars_per_token)} characters per "
            f"token · {_number(stats.bytes_per_token)} bytes per token")
    if shown_chars is not None and shown_chars < stats.n_chars:
        text += (f" (drawn: the first {shown_chars:,} of {stats.n_chars:,} characters; "
                 f"the counts cover all)")
    return text


def _number(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.2f}"
