"""The model's next-token guesses at the selected position, as bars; and the logit lens.

Top: the k most likely next tokens after the selected token, one bar each, with its probability
(the bars are scaled to the top guess; the percentages are the probabilities).
Below, when the logit lens is on: the top three guesses read after each layer (the final norm
and head applied to that layer's output), so one sees at which depth the answer appears.
Left out: computing them (`core.attention.view`).
"""

from __future__ import annotations

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from gptstudio.core.attention.view import NextTokens, token_label
from gptstudio.ui.theme import PlotTheme, plot_theme

ROW = 18
SHOWN = 8  # bars drawn (of the top tokens computed)
SHOWN_WITH_LENS = 4


class NextTokenBars(QWidget):
    """objectName nextTokenBars; see the module docstring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("nextTokenBars")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.setMinimumHeight(ROW * 4)
        self.title = "Next token"
        self.rows: list[tuple[str, float]] = []
        self.lens: list[list[tuple[str, float]]] = []
        self._theme = plot_theme()

    def set_guesses(self, token: str, position: int, next_tokens: NextTokens | None,
                    lens: tuple[NextTokens, ...] | None) -> None:
        if next_tokens is None:
            self.title, self.rows, self.lens = "Next token", [], []
        else:
            self.title = f"After “{token}” (position {position}) the model expects:"
            shown = SHOWN_WITH_LENS if lens else SHOWN  # room for the lens below
            self.rows = [(token_label(p), prob) for p, prob in next_tokens.at(position)[:shown]]
            self.lens = [[(token_label(p), prob) for p, prob in layer.at(position)[:3]]
                         for layer in lens] if lens else []
        self.updateGeometry()
        self.update()

    def apply_theme(self, theme: PlotTheme) -> None:
        self._theme = theme
        self.update()

    def sizeHint(self) -> QSize:
        return QSize(320, ROW * (2 + len(self.rows) + (len(self.lens) + 1 if self.lens else 0))
                     + 10)

    def minimumSizeHint(self) -> QSize:  # the scroll area around it scrolls the rest
        return QSize(160, self.sizeHint().height())

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        theme = self._theme
        painter.fillRect(self.rect(), QColor(theme.background))
        fg, muted = QColor(theme.foreground), QColor(theme.muted)
        metrics = painter.fontMetrics()
        painter.setPen(fg)
        width = self.width() - 12
        painter.drawText(QRect(6, 2, width, ROW), Qt.AlignmentFlag.AlignVCenter,
                         metrics.elidedText(self.title, Qt.TextElideMode.ElideRight, width))
        if not self.rows:
            painter.setPen(muted)
            painter.drawText(QRect(6, ROW + 4, width, ROW), Qt.AlignmentFlag.AlignVCenter,
                             "Type a prompt, then select a token.")
            return
        label_w, pct_w = 70, 52
        bar_w = max(20, width - label_w - pct_w)
        scale = max(prob for _, prob in self.rows) or 1.0  # the top guess fills the bar
        y = ROW + 6
        for piece, prob in self.rows:
            painter.setPen(fg)
            painter.drawText(QRect(6, y, label_w - 6, ROW),
                             Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             metrics.elidedText(f"“{piece}”", Qt.TextElideMode.ElideRight,
                                                label_w - 6))
            painter.fillRect(6 + label_w, y + 3, max(1, int(bar_w * prob / scale)), ROW - 6,
                             QColor(theme.train))
            painter.drawText(QRect(6 + label_w + bar_w + 4, y, pct_w, ROW),
                             Qt.AlignmentFlag.AlignVCenter, f"{prob:.1%}")
            y += ROW
        if self.lens:
            y += 4
            painter.setPen(muted)
            painter.drawText(QRect(6, y, width, ROW), Qt.AlignmentFlag.AlignVCenter,
                             "Logit lens: the top guesses after each layer")
            y += ROW
            for layer, guesses in enumerate(self.lens):
                text = f"after layer {layer + 1}:  " + "   ".join(
                    f"“{p}” {prob:.0%}" for p, prob in guesses)
                painter.setPen(fg)
                painter.drawText(QRect(6, y, width, ROW), Qt.AlignmentFlag.AlignVCenter,
                                 metrics.elidedText(text, Qt.TextElideMode.ElideRight, width))
                y += ROW
