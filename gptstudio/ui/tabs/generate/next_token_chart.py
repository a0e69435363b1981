"""`NextTokenChart`: the next token's most likely candidates as horizontal bars.

One row per candidate, most likely first: the token (spaces and newlines made visible), a bar
as long as its probability after temperature (what top-k and top-p look at), and the chance it
really has of being drawn. Candidates that top-k or top-p cut are drawn grey and struck out,
with no chance. The chart only paints a `NextTokenDistribution` it is given (core computes it
from logits kept by the tab, so moving a knob redraws at once without running the model).
Left out: computing the distribution (`gptstudio.core.next_token`).
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPalette
from PySide6.QtWidgets import QSizePolicy, QWidget

from gptstudio.core.next_token import NextTokenDistribution
from gptstudio.core.tokenizers.pieces import visible
from gptstudio.ui.theme import PlotTheme, plot_theme

ROW_HEIGHT = 20
LABEL_CHARS = 12  # a token label is cut to this many characters


class NextTokenChart(QWidget):
    """See the module docstring; `objectName` nextTokenChart."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("nextTokenChart")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumWidth(260)
        self._theme = plot_theme()
        self._dist: NextTokenDistribution | None = None
        self._message = "The next token's candidates appear here once there is a model."

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        return QSize(320, 20 * ROW_HEIGHT + 30)

    def set_distribution(self, dist: NextTokenDistribution | None, message: str = "") -> None:
        self._dist = dist
        self._message = message
        self.update()

    def bars(self) -> list[tuple[str, float, float, bool]]:
        """What is drawn: (token, bar length, chance of being drawn, cut) per row."""
        if self._dist is None:
            return []
        return [(c.piece, c.scaled_prob, c.prob, c.cut) for c in self._dist.candidates]

    def apply_theme(self, theme: PlotTheme) -> None:
        self._theme = theme
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 (Qt's name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        text_color = self.palette().color(QPalette.ColorRole.WindowText)
        rows = self._dist.candidates if self._dist is not None else ()
        if not rows:
            painter.setPen(QColor(self._theme.muted))
            painter.drawText(self.rect().adjusted(8, 8, -8, -8),
                             int(Qt.AlignmentFlag.AlignCenter) | int(Qt.TextFlag.TextWordWrap),
                             self._message)
            return
        metrics = painter.fontMetrics()
        label_w = metrics.horizontalAdvance("M" * (LABEL_CHARS // 2 + 2))
        value_w = metrics.horizontalAdvance("100.0%  ")
        row_h = max(ROW_HEIGHT, min(28, (self.height() - 8) // max(1, len(rows))))
        bar_x = label_w + 12
        bar_w = max(20, self.width() - bar_x - value_w - 8)
        top = max(s.scaled_prob for s in rows) or 1.0
        kept_color, cut_color = QColor(self._theme.train), QColor(self._theme.muted)
        cut_color.setAlpha(110)
        for k, cand in enumerate(rows):
            y = 4 + k * row_h
            label = visible(cand.piece)
            if len(label) > LABEL_CHARS:
                label = label[:LABEL_CHARS - 1] + "…"
            font = QFont(self.font())
            font.setStrikeOut(cand.cut)
            painter.setFont(font)
            painter.setPen(QColor(self._theme.muted) if cand.cut else text_color)
            painter.drawText(QRectF(4, y, label_w, row_h),
                             int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter),
                             label)
            length = bar_w * cand.scaled_prob / top
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(cut_color if cand.cut else kept_color)
            painter.drawRoundedRect(QRectF(bar_x, y + 3, max(1.0, length), row_h - 6), 2, 2)
            painter.setPen(QColor(self._theme.muted) if cand.cut else text_color)
            chance = "cut" if cand.cut else f"{100 * cand.prob:.1f}%"
            painter.drawText(QRectF(bar_x + length + 6, y, value_w + 40, row_h),
                             int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                             chance)
        painter.end()
