"""Attention as pictures without Qt: one head's heatmap or the layers x heads grid, as PNG.

The colours are the app's too (`colormap_lut`, a viridis-like ramp from dark blue to yellow), so
a PNG from `gptstudio attention --png` looks like the tab. Masked cells (a query may not see
later keys) are hatched grey rather than drawn as a zero weight: the mask is shown as such.
Each picture is an RGB numpy array first (`heatmap_rgb`, `grid_rgb`), then PNG bytes
(`encode_png`: one IDAT chunk, filter 0, zlib; readable by any PNG decoder).
Left out: the app's interactive views (pyqtgraph), statistics (`stats.py`).
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Sequence

import numpy as np

from gptstudio.core.atomic import atomic_write_bytes
from gptstudio.core.attention.font import GLYPH_HEIGHT, draw_text, text_width
from gptstudio.core.attention.stats import HeadStats, display_top, thumbnail
from gptstudio.core.attention.view import token_label
from gptstudio.core.inspect import AttentionMaps

# Anchors of matplotlib's viridis at 0, 1/8, ..., 1 (interpolated in between).
_VIRIDIS = np.array([(68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
                     (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37)], float)
MASKED = ((205, 205, 205), (228, 228, 228))  # the hatch of masked (future) cells
IDEAL = (230, 40, 40)  # outline of the cells a synthetic task's ideal pattern holds
BACKGROUND, INK, MUTED = (255, 255, 255), (30, 30, 30), (110, 110, 110)


def colormap_lut(n: int = 256) -> np.ndarray:
    """(n, 3) uint8: the colour of a weight at each of n levels from 0 (dark) to 1 (yellow)."""
    x = np.linspace(0, 1, n)
    anchors = np.linspace(0, 1, len(_VIRIDIS))
    return np.stack([np.interp(x, anchors, _VIRIDIS[:, c]) for c in range(3)], axis=1) \
        .round().astype(np.uint8)


_LUT = colormap_lut()


def colorize(values: np.ndarray, top: float) -> np.ndarray:
    """(..., 3) uint8 colours of `values` scaled so that 0 -> dark and `top` -> yellow."""
    scaled = np.clip(values / max(top, 1e-12), 0, 1)
    return _LUT[(scaled * (len(_LUT) - 1)).round().astype(np.int64)]


def masked_hatch(h: int, w: int) -> np.ndarray:
    """(h, w, 3) diagonal stripes in the two MASKED greys."""
    stripes = ((np.arange(h)[:, None] + np.arange(w)[None, :]) // 3) % 2
    return np.array(MASKED, dtype=np.uint8)[stripes]


def head_rgb(weights: np.ndarray, cell: int, *, top: float | None = None,
             ideal: np.ndarray | None = None) -> np.ndarray:
    """One head (T, T) as (T*cell, T*cell, 3): colours, the hatched mask, ideal outlines."""
    T = weights.shape[0]
    top = display_top(weights) if top is None else top
    rgb = np.repeat(np.repeat(colorize(weights, top), cell, axis=0), cell, axis=1)
    future = np.repeat(np.repeat(np.triu(np.ones((T, T), bool), 1), cell, 0), cell, 1)
    rgb[future] = masked_hatch(T * cell, T * cell)[future]
    if ideal is not None and cell >= 4:
        for q, s in zip(*np.nonzero(ideal)):
            y, x = q * cell, s * cell
            rgb[y:y + cell, [x, x + cell - 1]] = IDEAL
            rgb[[y, y + cell - 1], x:x + cell] = IDEAL
    return rgb


def heatmap_rgb(maps: AttentionMaps, layer: int, head: int, *, ideal: np.ndarray | None = None,
                size: int = 720) -> np.ndarray:
    """One head's heatmap with its title, token labels (when they fit) and a colour bar."""
    weights = maps.weights[layer][head]
    T = weights.shape[0]
    cell = max(1, min(28, size // T))
    labels = cell >= GLYPH_HEIGHT + 1
    names = [token_label(t) for t in maps.tokens]
    margin = 8 + (min(16, max(text_width(n) for n in names)) + 6 if labels else 0)
    top_margin = 26 + (margin - 8 if labels else 0)
    bar = 70
    side = T * cell
    title = f"Layer {layer + 1}, head {head + 1} - step {maps.step:,} - {T} tokens"
    footer = "Queries down, keys across. Hatched: masked (a token never sees later ones)."
    width = max(margin + side + bar, text_width(title) + 16, text_width(footer) + 16)
    canvas = np.full((top_margin + side + 30, width, 3), BACKGROUND, np.uint8)
    top = display_top(weights)
    canvas[top_margin:top_margin + side, margin:margin + side] = head_rgb(weights, cell, top=top,
                                                                        ideal=ideal)
    draw_text(canvas, 8, 6, title, INK)
    if labels:
        for i, name in enumerate(names):
            y = top_margin + i * cell + (cell - GLYPH_HEIGHT) // 2
            w = min(text_width(name), margin - 10)
            draw_text(canvas, margin - 4 - w, y, name, INK, max_width=w)  # query rows
            x = margin + i * cell + (cell - GLYPH_HEIGHT) // 2
            draw_text(canvas, x, top_margin - 4 - w, name, INK, rotate=True, max_width=w)
    _colour_bar(canvas, margin + side + 14, top_margin, side, top)
    draw_text(canvas, 8, top_margin + side + 10, footer, MUTED)
    return canvas


def _colour_bar(canvas: np.ndarray, x: int, y: int, height: int, top: float) -> None:
    height = max(height, 40)
    ramp = colorize(np.linspace(top, 0, height)[:, None].repeat(12, axis=1), top)
    canvas[y:y + height, x:x + 12] = ramp[: canvas.shape[0] - y]
    for value, yy in ((top, y), (top / 2, y + height // 2), (0.0, y + height - GLYPH_HEIGHT)):
        draw_text(canvas, x + 16, yy, f"{value:.2f}", INK)


def grid_rgb(maps: AttentionMaps, stats: Sequence[HeadStats] = (), *, thumb: int = 96,
             layers: Sequence[int] | None = None) -> np.ndarray:
    """The layers x heads grid: one thumbnail per head (each with its own colour scale,
    `stats.display_top`; long prompts downsampled by `stats.thumbnail`), labelled with its
    layer, head and label."""
    layers = list(range(maps.n_layer)) if layers is None else list(layers)
    T = len(maps.token_ids)
    cell = max(1, thumb // T)  # short prompts: each weight a cell of pixels
    side = T * cell if T <= thumb else thumbnail(maps.weights[0][:1], thumb).shape[-1]
    pad, head_h, left = 10, 2 * GLYPH_HEIGHT + 6, 44
    labels = {(s.layer, s.head): s.label for s in stats}
    title = f"Attention of every head - step {maps.step:,} - {T} tokens"
    width = max(left + maps.n_head * (side + pad) + pad, text_width(title) + 16)
    height = 28 + len(layers) * (side + head_h + pad)
    canvas = np.full((height, width, 3), BACKGROUND, np.uint8)
    draw_text(canvas, 8, 6, title, INK)
    for row, layer in enumerate(layers):
        y = 28 + row * (side + head_h + pad)
        draw_text(canvas, 6, y + side // 2, f"L{layer + 1}", INK)
        for head in range(maps.n_head):
            x = left + head * (side + pad)
            w = maps.weights[layer][head]
            if T <= thumb:
                rgb = head_rgb(w, cell)
            else:  # block maxima; a block on the diagonal is never all future: no hatching
                rgb = colorize(thumbnail(w, thumb), display_top(w))
            canvas[y:y + side, x:x + side] = rgb
            draw_text(canvas, x, y + side + 2, f"H{head + 1}", INK)
            label = labels.get((layer, head), "")
            if label:
                draw_text(canvas, x, y + side + 3 + GLYPH_HEIGHT, label, MUTED, max_width=side)
    return canvas


def encode_png(rgb: np.ndarray) -> bytes:
    """PNG bytes of an (H, W, 3) uint8 image."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, channels = rgb.shape
    if channels != 3:
        raise ValueError("encode_png takes RGB images (H, W, 3)")
    # Each scanline starts with its filter type: 0, none.
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rgb.reshape(h, w * 3)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)  # 8-bit RGB, no interlace
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw.tobytes(), 6)) + chunk(b"IEND", b""))


def write_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    """Write `rgb` as a PNG file, atomically."""
    atomic_write_bytes(path, encode_png(rgb))
