"""What each attention head does, in numbers: entropy, where its weight goes, a short label.

For a head's weights w (T, T) (row i: how query i spreads its attention over keys 0..i):
- entropy: the mean, over query rows, of -sum_j w[i, j] log2 w[i, j] (bits). A head that looks
  at one key has 0; one that spreads evenly over the i + 1 keys it may see has log2(i + 1).
  `entropy_norm` divides each row by that maximum: 0 = sharp, 1 = uniform.
- previous / first / same: the mean weight on key i - 1, key 0 and key i.
All are taken over rows 1..T-1: row 0 can only look at itself, which says nothing about a head.
A head gets a label when one pattern clearly dominates (`label_head`).

Also here: a token's view (where one query looks, head by head, and in sum), downsampled
thumbnails for the grid, and the ideal pattern a synthetic task implies (`ideal_mask`), laid over
the prompt's tokens, with how much of a head's weight falls on it (`ideal_share`).
Left out: computing the maps (`view.py`, `core.inspect`) and drawing them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from gptstudio.core.corpora.synthetic import TASKS, ideal_attention
from gptstudio.core.errors import ConfigError
from gptstudio.core.inspect import AttentionMaps

CLEAR_SHARE = 0.5  # a pattern holding at least half of a head's weight names the head
BROAD_ENTROPY = 0.85  # entropy_norm above this: the head spreads its weight over everything
TASK_EXAMPLES = {"copy": "abcd|abcd", "reverse": "abcd|dcba", "sort": "3127|1237",
                 "addition": "57+8=65", "stories": "… named Mia. … Mia …"}


@dataclass(frozen=True)
class HeadStats:
    """One head's numbers (see the module docstring); layer and head count from 0."""

    layer: int
    head: int
    entropy: float  # bits, mean over rows 1..T-1 (NaN for a one-token prompt)
    entropy_norm: float  # 0 = sharp .. 1 = uniform
    previous: float
    first: float
    same: float
    label: str  # "previous token" | "first token" | "same token" | "broad" | ""
    ideal: float | None = None  # share of weight on the ideal pattern, when one is given

    def to_dict(self) -> dict[str, object]:
        """JSON-able, with layer and head counted from 1 as the app shows them."""
        def num(x: float | None) -> float | None:
            return None if x is None or not math.isfinite(x) else round(float(x), 6)

        return {"layer": self.layer + 1, "head": self.head + 1, "entropy_bits": num(self.entropy),
                "entropy_norm": num(self.entropy_norm), "previous": num(self.previous),
                "first": num(self.first), "same": num(self.same), "label": self.label,
                "ideal": num(self.ideal)}


def label_head(previous: float, first: float, same: float, entropy_norm: float) -> str:
    """The pattern that holds at least CLEAR_SHARE of the weight, "broad" for a near-uniform
    head, else "" (no single clear pattern).

    >>> label_head(0.9, 0.05, 0.05, 0.1), label_head(0.2, 0.2, 0.2, 0.95)
    ('previous token', 'broad')
    >>> label_head(0.3, 0.3, 0.3, 0.5)
    ''
    """
    shares = {"previous token": previous, "first token": first, "same token": same}
    name, share = max(shares.items(), key=lambda kv: kv[1])
    if math.isfinite(share) and share >= CLEAR_SHARE:
        return name
    if math.isfinite(entropy_norm) and entropy_norm >= BROAD_ENTROPY:
        return "broad"
    return ""


def layer_stats(weights: np.ndarray, layer: int = 0,
                ideal: np.ndarray | None = None) -> list[HeadStats]:
    """HeadStats of every head of one layer's weights (n_head, T, T)."""
    n_head, T, _ = weights.shape
    if T < 2:
        nan = float("nan")
        return [HeadStats(layer, h, nan, nan, nan, nan, nan, "", _ideal(weights[h], ideal))
                for h in range(n_head)]
    w = weights[:, 1:, :]  # rows 1..T-1: (nh, T-1, T), a view (GPT-2 prompts are large)
    log_w = np.zeros(w.shape, np.float32)
    np.log2(w, out=log_w, where=w > 0)  # 0 log 0 counts as 0
    log_w *= w
    row_entropy = -log_w.sum(axis=-1, dtype=np.float64)  # (nh, T-1)
    max_entropy = np.log2(np.arange(2, T + 1))  # row i sees i + 1 keys
    entropy = row_entropy.mean(axis=-1)
    entropy_norm = (row_entropy / max_entropy).mean(axis=-1)
    previous = np.diagonal(weights, offset=-1, axis1=1, axis2=2).mean(axis=-1)  # w[i, i-1]
    first = weights[:, 1:, 0].mean(axis=-1)
    same = np.diagonal(weights, axis1=1, axis2=2)[:, 1:].mean(axis=-1)
    out = []
    for h in range(n_head):
        p, f, s, e = float(previous[h]), float(first[h]), float(same[h]), float(entropy_norm[h])
        out.append(HeadStats(layer, h, float(entropy[h]), e, p, f, s, label_head(p, f, s, e),
                             _ideal(weights[h], ideal)))
    return out


def head_stats(maps: AttentionMaps, ideal: np.ndarray | None = None) -> list[HeadStats]:
    """HeadStats of every head, layer by layer (with `ideal_share` when `ideal` is given)."""
    return [s for layer, w in enumerate(maps.weights) for s in layer_stats(w, layer, ideal)]


def _ideal(weights: np.ndarray, ideal: np.ndarray | None) -> float | None:
    return None if ideal is None else ideal_share(weights, ideal)


# --- one token's view -------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenAttention:
    """Where query `position` looks in one layer: `per_head[h, j]`, `total[j]` (the heads'
    weights summed, so it sums to n_head), `top`: [(key position, share of the total)]."""

    layer: int
    position: int
    per_head: np.ndarray  # (n_head, T)
    total: np.ndarray  # (T,)
    top: tuple[tuple[int, float], ...]


def token_attention(maps: AttentionMaps, layer: int, position: int,
                    n_top: int = 5) -> TokenAttention:
    """Where the token at `position` attends in `layer`, across all heads."""
    weights = maps.weights[layer]
    if not 0 <= position < weights.shape[1]:
        raise ConfigError(f"Position {position} is outside the prompt's {weights.shape[1]} "
                          "tokens.")
    per_head = weights[:, position, :].copy()
    total = per_head.sum(axis=0)
    order = np.argsort(-total, kind="stable")[: min(n_top, position + 1)]
    share = total / max(float(total.sum()), 1e-12)
    return TokenAttention(layer, position, per_head, total,
                          tuple((int(j), float(share[j])) for j in order))


def thumbnail(weights: np.ndarray, size: int) -> np.ndarray:
    """A (..., T, T) map shrunk to at most (size, size) by taking each block's *largest* weight:
    a thin sharp pattern (one key per row) stays visible where an average would fade it."""
    T = weights.shape[-1]
    factor = math.ceil(T / size) if size > 0 else 1
    if factor <= 1:
        return weights
    n = math.ceil(T / factor)
    padded = np.zeros(weights.shape[:-2] + (n * factor, n * factor), dtype=weights.dtype)
    padded[..., :T, :T] = weights
    blocks = padded.reshape(weights.shape[:-2] + (n, factor, n, factor))
    return blocks.max(axis=(-3, -1))


def display_top(weights: np.ndarray) -> float | np.ndarray:
    """The weight to draw as the brightest colour for a head (T, T) (or each of (..., T, T)):
    the 99th percentile of what rows 1.. may see. Row 0 (always 1) and a few early rows would
    otherwise take the whole colour range and leave every later pattern dark; larger weights
    are drawn saturated."""
    T = weights.shape[-1]
    if T < 2:
        top = weights.max(axis=(-2, -1)) if weights.size else np.ones(weights.shape[:-2])
    else:
        rows, cols = np.tril_indices(T)
        keep = rows >= 1
        seen = weights[..., rows[keep], cols[keep]]  # (..., visible cells)
        top = np.maximum(np.percentile(seen, 99, axis=-1), weights.max(axis=(-2, -1)) / 100)
    top = np.maximum(top, 1e-6)
    return float(top) if np.ndim(top) == 0 else top


THUMB_SIZE = 64  # the grid's thumbnails: at most this many cells a side


@dataclass(frozen=True)
class GridSummary:
    """What the layers x heads grid draws: per layer (n_head, s, s) thumbnails (the weights
    themselves when the prompt is short, block maxima otherwise) and each head's colour top."""

    thumbs: tuple[np.ndarray, ...]
    tops: np.ndarray  # (n_layer, n_head), `display_top` of each head
    downsampled: bool


def grid_summary(maps: AttentionMaps, size: int = THUMB_SIZE) -> GridSummary:
    """The grid's thumbnails and colour scales (heavy for long prompts: compute off the GUI)."""
    thumbs = tuple(thumbnail(w, size) for w in maps.weights)
    tops = np.array([display_top(w) for w in maps.weights])  # (n_layer, n_head)
    T = len(maps.token_ids)
    return GridSummary(thumbs=thumbs, tops=tops.reshape(maps.n_layer, maps.n_head),
                       downsampled=bool(thumbs) and thumbs[0].shape[-1] < T)


# --- the ideal pattern of a synthetic task ------------------------------------------------------


def ideal_mask(task: str, tokens: tuple[str, ...] | list[str], *,
               skip_first_line: bool = False) -> np.ndarray:
    """(T, T) bool: True where a perfect model of `task` attends, on these tokens' text.

    Every line of the text that is an example of the task (e.g. "abc|abc" for copy) gets the
    pattern `corpora.synthetic.ideal_attention` gives; character positions are mapped to the
    tokens holding them (one token per character with the character tokenizer). Lines that are
    not examples are left out; `skip_first_line` too (a prompt cropped on the left starts with
    part of a line). ConfigError if no line of the prompt is an example.
    """
    if task not in TASKS:
        raise ConfigError(f"Unknown task {task!r}; choose one of {', '.join(TASKS)}.")
    lengths = np.array([len(t) for t in tokens])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) if len(tokens) else np.array([])
    text = "".join(tokens)
    T = len(tokens)
    mask = np.zeros((T, T), dtype=bool)
    offset = 0
    for n, line in enumerate(text.split("\n")):
        if not (skip_first_line and n == 0):
            try:
                pattern = ideal_attention(task, line)
            except ConfigError:
                pattern = {}
            for query, sources in pattern.items():
                q = _token_at(starts, offset + query)
                for source in sources:
                    s = _token_at(starts, offset + source)
                    if 0 <= s <= q < T:
                        mask[q, s] = True
        offset += len(line) + 1
    if not mask.any():
        raise ConfigError(f"The prompt holds no {task} example like {TASK_EXAMPLES[task]!r}, so "
                          "there is no ideal pattern to show; try the task's example prompt.")
    return mask


def _token_at(starts: np.ndarray, char_offset: int) -> int:
    return int(np.searchsorted(starts, char_offset, side="right")) - 1


def ideal_share(weights: np.ndarray, mask: np.ndarray) -> float:
    """Mean weight a head (T, T) puts on the ideal keys, over the rows that have any."""
    rows = mask.any(axis=1)
    if not rows.any() or mask.shape != weights.shape:
        return float("nan")
    return float((weights * mask)[rows].sum(axis=1).mean())
