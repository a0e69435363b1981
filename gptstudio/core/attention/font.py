"""A tiny bitmap font for the PNGs the engine writes (labels, titles, colour-bar ticks).

Printable ASCII, 6 x 10 pixels a character, one byte per row (bit 5 = the leftmost pixel).
Rendered once from DejaVu Sans Mono by `scripts/make_png_font.py` (with Qt, which the engine
itself never imports). Text outside ASCII is drawn by `ascii_label` substitutes or as "?".
Left out: anything but drawing left-to-right (or rotated by the caller).
"""

from __future__ import annotations

import numpy as np

GLYPH_WIDTH, GLYPH_HEIGHT = 6, 10
_FIRST, _LAST = 32, 126
_DATA = bytes.fromhex(
    "0000000000000000000000040404040400040000000a0a0a000000000000000a0a1f143e1414000000040f14"
    "1c07051e04000038283a0c1705070000000e080c1513120d0000000404040000000000000408080808080808"
    "04000808040404040408080000150e0e150000000000000004041f0404000000000000000000000808080000"
    "0000000e000000000000000000000008000000010202040408081000000e11111511110e0000001c04040404"
    "041f0000000e11010306081f0000000e11010e01110e00000002060a1a1f02020000001e101e0101011e0000"
    "000f18101e11110e0000001f0302020404080000000e11110e11110e0000000e11110f01031e000000000008"
    "000000080000000000080000000808080000010e100e010000000000003e003e000000000000100e010e1000"
    "0000001e0204080800080000000e09171515151708060004040a0a0e11110000001e11111e11111e0000000f"
    "19101010190f0000001e13111111131e0000001f10101f10101f0000001f10101f1010100000000e19101311"
    "190f0000001111111f1111110000001f04040404041f0000000e02020202120c000000111214181412110000"
    "001010101010101f000000111b1b15111111000000111919151313110000000e11111111110e0000001e1111"
    "1e1010100000000e11111111110e0300001e11111e1311100000000e11100e01110e0000001f040404040404"
    "0000001111111111110e00000011110a0a0a0404000000212d2d1e121212000000110a0a040a0a1100000011"
    "0a0a040404040000001f02020408081f00000c080808080808080c00001008080404020201000c0404040404"
    "04040c00000814220000000000000000000000000000003f100800000000000000000000001e010f111f0000"
    "1010101e1111111e00000000000e1010100e00000101010f1111110f00000000000e111f100f00000608081e"
    "0808080800000000000f1111110f010e101010161911111100000400000c0404041f00000400001c04040404"
    "041810101012141c12110000380808080808080600000000001f151515150000000000161911111100000000"
    "000e1111110e00000000001e1111111e10100000000f1111110f01010000000f0908080800000000000f100f"
    "011e00000008081e0808080e0000000000111111110f0000000000110a0a0a04000000000011150a0a0a0000"
    "0000001b0a040a1b0000000000110a0a040404180000001f0204081f00000604040418040404060004040404"
    "0404040404040c040404030404040c00000000001c0300000000"
)
_SUBSTITUTES = {"␣": "_", "↵": "\\n", "⇥": "\\t", "␍": "\\r", "…": "...", "·": "."}


def _glyphs() -> np.ndarray:
    rows = np.frombuffer(_DATA, dtype=np.uint8).reshape(-1, GLYPH_HEIGHT, 1)
    bits = (rows >> np.arange(GLYPH_WIDTH - 1, -1, -1, dtype=np.uint8)) & 1
    return bits.astype(bool)  # (95, 10, 6)


GLYPHS = _glyphs()


def ascii_label(text: str) -> str:
    """`text` in the font's characters: visible-whitespace marks spelled out, others as "?".

    >>> ascii_label("␣the↵"), ascii_label("née")
    ('_the\\\\n', 'n?e')
    """
    out = "".join(_SUBSTITUTES.get(c, c) for c in text)
    return "".join(c if _FIRST <= ord(c) <= _LAST else "?" for c in out)


def text_width(text: str) -> int:
    return GLYPH_WIDTH * len(ascii_label(text))


def text_mask(text: str) -> np.ndarray:
    """(GLYPH_HEIGHT, width) bool: the pixels of `text` written left to right."""
    label = ascii_label(text)
    if not label:
        return np.zeros((GLYPH_HEIGHT, 0), dtype=bool)
    return np.concatenate([GLYPHS[ord(c) - _FIRST] for c in label], axis=1)


def draw_text(canvas: np.ndarray, x: int, y: int, text: str, color: tuple[int, int, int], *,
              rotate: bool = False, max_width: int | None = None) -> None:
    """Write `text` into the RGB `canvas` (H, W, 3) with its top-left corner at (x, y);
    `rotate`: turned a quarter to the left (reading bottom-up); clipped to the canvas."""
    mask = text_mask(text)
    if max_width is not None:
        mask = mask[:, :max(0, max_width)]
    if rotate:
        mask = np.rot90(mask)
    h, w = mask.shape
    y0, x0 = max(0, y), max(0, x)
    y1, x1 = min(canvas.shape[0], y + h), min(canvas.shape[1], x + w)
    if y1 <= y0 or x1 <= x0:
        return
    part = mask[y0 - y:y1 - y, x0 - x:x1 - x]
    canvas[y0:y1, x0:x1][part] = color
