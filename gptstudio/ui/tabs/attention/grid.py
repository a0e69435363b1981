"""The layers x heads grid (bertviz's "model view"): a small heatmap of every head at once.

Each thumbnail is the head's (T, T) weights (or, for long prompts, the block maxima the engine
computed: `core.attention.grid_summary`), coloured with the engine's colour ramp on the head's
own scale, the masked upper triangle in flat grey. Under it: the head's label from its
statistics ("previous token", ...). Clicking a thumbnail (or moving with the arrow keys) chooses
that head: `head_clicked(layer, head)`, counted from 0.
The images are built once per new set of maps; a repaint only scales them (no numpy).
Left out: computing anything (core), the big heatmap (`heatmap.py`).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPoint, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, \
    QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from gptstudio.core.attention.png import colormap_lut
from gptstudio.core.attention.stats import GridSummary
from gptstudio.ui.theme import PlotTheme, plot_theme

LUT = colormap_lut()
PAD = 6
LEFT = 34  # room for the "L1" row labels
TOP = 18  # room for the "H1" column labels
LABEL = 14  # under each thumbnail: its pattern label


def lut_image(values: np.ndarray, top: float, masked: tuple[int, int, int] | None) -> QImage:
    """A QImage (owning its pixels) of `values` (s, s) through LUT; `masked`: the colour of the
    upper triangle (for thumbnails that are the weights themselves)."""
    idx = (np.clip(values / max(top, 1e-12), 0, 1) * (len(LUT) - 1)).round().astype(np.int64)
    rgb = np.ascontiguousarray(LUT[idx])
    if masked is not None:
        rgb[np.triu(np.ones(values.shape, bool), 1)] = masked
    h, w = values.shape
    # RGB32 is what the painter draws natively: no conversion on every repaint.
    return QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).convertToFormat(
        QImage.Format.Format_RGB32)


class AttentionGrid(QWidget):
    """objectName attentionGrid; see the module docstring."""

    head_clicked = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("attentionGrid")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setToolTip("Every head of every layer; each thumbnail on its own colour scale. "
                        "Click one to open it (or use the arrow keys).")
        self._images: list[list[QImage]] = []
        self._labels: dict[tuple[int, int], str] = {}
        self._selected = (0, 0)
        self._message = "Type a prompt above to see every head at once."
        self._theme = plot_theme()

    # -- data ------------------------------------------------------------------------------------
    def set_summary(self, summary: GridSummary, labels: dict[tuple[int, int], str]) -> None:
        masked = (90, 90, 90) if self._theme.background != "#ffffff" else (222, 222, 222)
        self._images = [[lut_image(thumbs[h], float(summary.tops[layer, h]),
                                   None if summary.downsampled else masked)
                         for h in range(thumbs.shape[0])]
                        for layer, thumbs in enumerate(summary.thumbs)]
        self._labels = dict(labels)
        self._message = ""
        self.update()

    def clear(self, message: str = "") -> None:
        self._images, self._labels, self._message = [], {}, message
        self.update()

    def set_selected(self, layer: int, head: int) -> None:
        self._selected = (layer, head)
        self.update()

    def apply_theme(self, theme: PlotTheme) -> None:
        self._theme = theme
        self.update()

    @property
    def shape(self) -> tuple[int, int]:
        """(layers, heads) shown; (0, 0) when empty."""
        return (len(self._images), len(self._images[0]) if self._images else 0)

    def item_count(self) -> int:
        return sum(len(row) for row in self._images)

    # -- geometry --------------------------------------------------------------------------------
    def _cell(self) -> int:
        n_layer, n_head = self.shape
        if not n_layer:
            return 0
        w = (self.width() - LEFT - PAD) // n_head - PAD
        h = (self.height() - TOP - PAD) // n_layer - PAD - LABEL
        return max(8, min(w, h, 160))

    def cell_rect(self, layer: int, head: int) -> QRect:
        """Where head (layer, head)'s thumbnail is drawn, in widget coordinates."""
        cell = self._cell()
        return QRect(LEFT + head * (cell + PAD), TOP + layer * (cell + PAD + LABEL), cell, cell)

    def head_at(self, point: QPoint) -> tuple[int, int] | None:
        n_layer, n_head = self.shape
        for layer in range(n_layer):
            for head in range(n_head):
                r = self.cell_rect(layer, head)
                if r.adjusted(-PAD // 2, -PAD // 2, PAD // 2, LABEL).contains(point):
                    return layer, head
        return None

    def sizeHint(self) -> QSize:
        return QSize(380, 380)

    # -- painting and input ----------------------------------------------------------------------
    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(self._theme.background))
        fg, muted = QColor(self._theme.foreground), QColor(self._theme.muted)
        if not self._images:
            painter.setPen(muted)
            painter.drawText(self.rect().adjusted(12, 12, -12, -12),
                             Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                             self._message)
            return
        small = QFont(self.font())
        small.setPointSizeF(max(6.5, small.pointSizeF() * 0.8))
        painter.setFont(small)
        n_layer, n_head = self.shape
        cell = self._cell()
        for head in range(n_head):
            r = self.cell_rect(0, head)
            painter.setPen(fg)
            painter.drawText(QRect(r.left(), 0, cell, TOP), Qt.AlignmentFlag.AlignCenter,
                             f"H{head + 1}")
        for layer, row in enumerate(self._images):
            r = self.cell_rect(layer, 0)
            painter.setPen(fg)
            painter.drawText(QRect(0, r.top(), LEFT - 4, cell),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             f"L{layer + 1}")
            for head, image in enumerate(row):
                r = self.cell_rect(layer, head)
                painter.drawImage(r, image)  # nearest-neighbour: no smoothing hint set
                label = self._labels.get((layer, head), "")
                if label:
                    painter.setPen(muted)
                    text = painter.fontMetrics().elidedText(label, Qt.TextElideMode.ElideRight,
                                                            cell + PAD)
                    painter.drawText(QRect(r.left() - 2, r.bottom() + 1, cell + PAD, LABEL),
                                     Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, text)
        layer, head = self._selected
        if layer < n_layer and head < n_head:
            pen = QPen(QColor(self._theme.val), 2)
            painter.setPen(pen)
            painter.drawRect(self.cell_rect(layer, head).adjusted(-2, -2, 1, 1))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        hit = self.head_at(event.position().toPoint())
        if hit is not None:
            self.set_selected(*hit)
            self.head_clicked.emit(*hit)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        n_layer, n_head = self.shape
        moves = {Qt.Key.Key_Left: (0, -1), Qt.Key.Key_Right: (0, 1), Qt.Key.Key_Up: (-1, 0),
                 Qt.Key.Key_Down: (1, 0)}
        if n_layer and event.key() in moves:
            dl, dh = moves[Qt.Key(event.key())]
            layer = min(max(self._selected[0] + dl, 0), n_layer - 1)
            head = min(max(self._selected[1] + dh, 0), n_head - 1)
            self.set_selected(layer, head)
            self.head_clicked.emit(layer, head)
        else:
            super().keyPressEvent(event)
