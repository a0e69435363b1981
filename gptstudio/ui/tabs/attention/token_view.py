"""The token view (bertviz's "head view", as highlights): where one token looks, in one layer.

The prompt's tokens flow as chips. The selected token is outlined; every other chip is shaded by
how much attention the selected one gives it, summed over the layer's heads, and carries one
small bar per head (that head's weight on it, in the head's colour). A line on top names what it
attends to most. Click a chip to select it (`position_clicked(i)`).
Left out: the numbers (`core.attention.token_attention`).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from gptstudio.core.attention.stats import TokenAttention
from gptstudio.ui.theme import PlotTheme, plot_theme

HEAD_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939")
MAX_CHIPS = 400  # beyond this, the chips around the selected token are shown
CHIP_H, BAR_H, GAP = 20, 10, 4


def head_color(head: int) -> QColor:
    return QColor(HEAD_COLORS[head % len(HEAD_COLORS)])


class TokenView(QWidget):
    """objectName tokenView; see the module docstring."""

    position_clicked = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tokenView")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMinimumHeight(90)
        self.labels: list[str] = []
        self.view: TokenAttention | None = None
        self._rects: list[tuple[int, QRect]] = []
        self._theme = plot_theme()

    def set_view(self, labels: list[str], view: TokenAttention | None) -> None:
        self.labels, self.view = labels, view
        self.updateGeometry()
        self.update()

    def apply_theme(self, theme: PlotTheme) -> None:
        self._theme = theme
        self.update()

    def summary(self) -> str:
        """What the selected token attends to most, as a sentence."""
        v = self.view
        if v is None or not self.labels:
            return "Select a token (click it) to see where it looks."
        parts = ", ".join(f"“{self.labels[j]}” {share:.0%}" for j, share in v.top)
        return (f"Layer {v.layer + 1}: “{self.labels[v.position]}” (position {v.position}) "
                f"attends most to {parts} (all heads summed).")

    def _shown(self) -> range:
        n = len(self.labels)
        if n <= MAX_CHIPS or self.view is None:
            return range(min(n, MAX_CHIPS))
        start = max(0, min(self.view.position - MAX_CHIPS // 2, n - MAX_CHIPS))
        return range(start, start + MAX_CHIPS)

    def _layout(self, width: int) -> list[tuple[int, QRect]]:
        metrics = self.fontMetrics()
        x, y, rects = 6, 28, []
        for i in self._shown():
            w = max(16, metrics.horizontalAdvance(self.labels[i]) + 10)
            if x + w > width - 6 and x > 6:
                x, y = 6, y + CHIP_H + BAR_H + GAP * 2
            rects.append((i, QRect(x, y, w, CHIP_H)))
            x += w + GAP
        return rects

    def hasHeightForWidth(self) -> bool:  # noqa: N802
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802
        rects = self._layout(width)
        return (rects[-1][1].bottom() if rects else 28) + BAR_H + GAP * 2 + 4

    def sizeHint(self) -> QSize:
        return QSize(500, self.heightForWidth(500))

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        theme = self._theme
        painter.fillRect(self.rect(), QColor(theme.background))
        painter.setPen(QColor(theme.foreground))
        painter.drawText(QRect(6, 4, self.width() - 12, 20),
                         Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         painter.fontMetrics().elidedText(self.summary(),
                                                          Qt.TextElideMode.ElideRight,
                                                          self.width() - 12))
        self._rects = self._layout(self.width())
        v = self.view
        total = v.total / max(float(v.total.max()), 1e-12) if v is not None else None
        accent = QColor(theme.val)
        for i, rect in self._rects:
            seen = v is not None and i <= v.position
            if seen:
                fill = QColor(accent)
                fill.setAlphaF(0.1 + 0.75 * float(np.clip(total[i], 0, 1)))
            else:  # no token selected, or a later one: the selected token never sees it
                fill = QColor(theme.token_colors[i % 2])
                fill.setAlphaF(0.45)
            painter.fillRect(rect, fill)
            if v is not None and i == v.position:
                painter.setPen(QColor(theme.foreground))
                painter.drawRect(rect.adjusted(0, 0, -1, -1))
            painter.setPen(QColor(theme.foreground if seen or v is None else theme.muted))
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.labels[i])
            if seen:
                self._draw_head_bars(painter, rect, v.per_head[:, i])

    def _draw_head_bars(self, painter: QPainter, rect: QRect, weights: np.ndarray) -> None:
        n = len(weights)
        width = max(1, (rect.width() - 2) // max(n, 1))
        for h, w in enumerate(weights):
            height = int(round(float(w) * BAR_H))
            if height:
                painter.fillRect(rect.left() + 1 + h * width, rect.bottom() + 2 + BAR_H - height,
                                 max(1, width - 1), height, head_color(h))

    def mousePressEvent(self, event: QMouseEvent) -> None:
        point = event.position().toPoint()
        for i, rect in self._rects:
            if rect.adjusted(0, 0, 0, BAR_H).contains(point):
                self.position_clicked.emit(i)
                return
