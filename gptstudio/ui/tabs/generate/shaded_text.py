"""`ShadedText`: text made of tokens, each shaded by a number, with a tooltip and a click.

The Generate tab shows generated tokens shaded by how unlikely they were (the lighter, the more
the model expected it), and scored text shaded by its loss. Each token is a run of characters
with its own format: a background whose strength is the token's `shade` (0 = none, 1 = full), a
tooltip (its alternatives, or its loss), and an anchor when it can be clicked (to branch).
Tokens are appended as they arrive, so a long generation is never laid out again from the
start; a theme switch re-renders what is kept. A clickable token's tooltip is written only when
it is hovered (`tooltip_for(index)`), so streaming costs the GUI thread as little as possible.
A prompt before the tokens is shown in the muted colour, unshaded. Left out: what the numbers
mean (the tab says it in a legend).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QPoint, QUrl, Signal, Slot
from PySide6.QtGui import QColor, QCursor, QPalette, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QTextBrowser, QToolTip, QWidget

from gptstudio.ui.theme import PlotTheme, plot_theme


@dataclass(frozen=True)
class Piece:
    """One token as shown: its text, how strongly to shade it, its tooltip, its index (None:
    not clickable)."""

    text: str
    shade: float
    tooltip: str = ""  # for a clickable token, "" asks `tooltip_for(index)` when hovered
    index: int | None = None


def shade_color(theme: PlotTheme, shade: float) -> QColor:
    """The background of a token shaded `shade` (0..1): warm, readable under the text colour."""
    dark = QColor(theme.background).lightness() < 128
    color = QColor("#c2410c" if dark else "#fb8c00")
    color.setAlpha(int(round(max(0.0, min(1.0, shade)) * (190 if dark else 160))))
    return color


class ShadedText(QTextBrowser):
    """See the module docstring. `token_clicked(index, global position)` on a click."""

    token_clicked = Signal(int, QPoint)

    def __init__(self, object_name: str, placeholder: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setOpenLinks(False)
        self.setPlaceholderText(placeholder)
        self.setMouseTracking(True)
        self.anchorClicked.connect(self._on_anchor_clicked)
        self.viewport().installEventFilter(self)
        self._theme = plot_theme()
        self.tooltip_for: Callable[[int], str] | None = None  # a token's tooltip, on hover
        self._prompt = ""
        self._pieces: list[Piece] = []
        self._note = ""

    # -- content --------------------------------------------------------------------------------
    def clear_all(self) -> None:
        self._prompt, self._pieces, self._note = "", [], ""
        self.clear()

    def set_prompt(self, text: str) -> None:
        """Start again with `text` as the (unshaded) beginning."""
        self.clear_all()
        self._prompt = text
        self._insert_muted(text)

    def append(self, pieces: Sequence[Piece]) -> None:
        """Add tokens at the end (the view follows the end if it was there)."""
        if not pieces:
            return
        bar = self.verticalScrollBar()
        at_end = bar.value() >= bar.maximum() - 4
        cursor = self._end_cursor()
        cursor.beginEditBlock()  # one layout pass for the whole batch, not one per token
        for piece in pieces:
            cursor.insertText(piece.text, self._format(piece))
        cursor.endEditBlock()
        self._pieces.extend(pieces)
        if at_end:
            bar.setValue(bar.maximum())

    def set_pieces(self, pieces: Sequence[Piece], note: str = "") -> None:
        """Show exactly `pieces` after the prompt, then `note` (muted), replacing any tokens."""
        prompt = self._prompt
        self.set_prompt(prompt)
        self.append(pieces)
        self._note = note
        if note:
            self._insert_muted(note)

    @property
    def pieces(self) -> list[Piece]:
        return list(self._pieces)

    def tokens_text(self) -> str:
        """The tokens' text as shown (without the prompt and the note)."""
        return "".join(p.text for p in self._pieces)

    def apply_theme(self, theme: PlotTheme) -> None:
        self._theme = theme
        self.set_pieces(list(self._pieces), self._note)

    # -- formats ----------------------------------------------------------------------------------
    def _end_cursor(self) -> QTextCursor:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor

    def _insert_muted(self, text: str) -> None:
        fmt = QTextCharFormat()
        fmt.setForeground(QColor(self._theme.muted))
        self._end_cursor().insertText(text, fmt)

    def _format(self, piece: Piece) -> QTextCharFormat:
        fmt = QTextCharFormat()
        fmt.setForeground(self.palette().color(QPalette.ColorRole.Text))
        fmt.setBackground(shade_color(self._theme, piece.shade))
        if piece.tooltip:
            fmt.setToolTip(piece.tooltip)
        if piece.index is not None:
            fmt.setAnchor(True)
            fmt.setAnchorHref(f"token:{piece.index}")
        return fmt

    def tooltip_at(self, point: QPoint) -> str:
        """The tooltip of the token under `point` (viewport coordinates), or ""."""
        fmt = self.cursorForPosition(point).charFormat()
        href = fmt.anchorHref()
        if not fmt.toolTip() and href.startswith("token:") and self.tooltip_for is not None:
            return self.tooltip_for(int(href.split(":", 1)[1]))
        return fmt.toolTip()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        # A filter on the viewport, not an override of viewportEvent: an override would run
        # every paint inside a Python call, holding the GIL the generating thread needs.
        if event.type() == QEvent.Type.ToolTip and watched is self.viewport():
            text = self.tooltip_at(event.pos())
            if text:
                QToolTip.showText(event.globalPos(), text, self)
            else:
                QToolTip.hideText()
            return True
        return False

    @Slot(QUrl)
    def _on_anchor_clicked(self, url: QUrl) -> None:
        text = url.toString()
        if text.startswith("token:"):
            self.token_clicked.emit(int(text.split(":", 1)[1]), QCursor.pos())
