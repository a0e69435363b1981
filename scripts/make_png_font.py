"""Print the bitmap font of `gptstudio/core/attention/font.py` (run once; the output is pasted
there). It renders printable ASCII with Qt, unantialiased, in DejaVu Sans Mono at 10 pixels, into
6 x 11 cells, and keeps rows 1-10 of each cell as one byte per row (bit 5 = leftmost pixel).

    QT_QPA_PLATFORM=offscreen python scripts/make_png_font.py

The engine then writes labelled PNGs without Qt (gptstudio.core never imports it).
"""

from __future__ import annotations

import os
import textwrap

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QColor, QFont, QGuiApplication, QImage, QPainter  # noqa: E402

WIDTH, CELL_HEIGHT, PIXEL_SIZE, FIRST_ROW, ROWS = 6, 11, 10, 1, 10


def glyph_rows(font: QFont, ch: str) -> list[int]:
    img = QImage(WIDTH, CELL_HEIGHT, QImage.Format.Format_Grayscale8)
    img.fill(0)
    painter = QPainter(img)
    painter.setFont(font)
    painter.setPen(QColor(255, 255, 255))
    painter.drawText(0, 0, WIDTH, CELL_HEIGHT,
                     Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop, ch)
    painter.end()
    rows = []
    for y in range(FIRST_ROW, FIRST_ROW + ROWS):
        bits = 0
        for x in range(WIDTH):
            bits = bits << 1 | (img.pixelColor(x, y).value() > 127)
        rows.append(bits)
    return rows


def main() -> None:
    app = QGuiApplication([])  # noqa: F841 - fonts need an application
    font = QFont("DejaVu Sans Mono")
    font.setPixelSize(PIXEL_SIZE)
    font.setStyleStrategy(QFont.StyleStrategy.NoAntialias)
    font.setHintingPreference(QFont.HintingPreference.PreferFullHinting)
    data = bytes(b for c in range(32, 127) for b in glyph_rows(font, chr(c)))
    print("\n".join(textwrap.wrap(data.hex(), 88)))


if __name__ == "__main__":
    main()
