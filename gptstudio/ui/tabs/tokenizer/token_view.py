"""`TokenView`: a text drawn as coloured tokens, with a hover read-out and a click per token.

The view is a read-only QPlainTextEdit holding the shown text (control characters as pictures,
one character for one, so positions match core's offsets). Colours are not put into the text:
each block (line) gets its token colours as layout formats only when it scrolls into sight, so
a megabyte of text costs the same as a screenful, and a new tokenization of an edited text
changes only the edited characters (the common start and end are kept). A character split
over several byte tokens is drawn as one group (underlined) and its hover names each byte
token. Colours: a stable slot per token id from core (`explain.color_slots`) into a palette
that follows the light or dark theme. Left out: tokenizing (jobs.py) and what a hover says
(`describe.py`).
"""

from __future__ import annotations

import re

import numpy as np
from PySide6.QtCore import QEvent, QPoint, Qt, QTimer, Signal, Slot
from PySide6.QtGui import (
    QColor, QFont, QFontDatabase, QFontMetrics, QHelpEvent, QMouseEvent, QResizeEvent,
    QTextCharFormat, QTextCursor, QTextLayout,
    QTextOption,
)
from PySide6.QtWidgets import QPlainTextEdit, QToolTip, QWidget

from gptstudio.core.tokenizers.explain import TokenSpans
from gptstudio.ui.tabs.tokenizer.chunked import AT_ONCE_CHARS, ChunkedInsert, utf16_length
from gptstudio.ui.tabs.tokenizer.jobs import N_COLORS
from gptstudio.ui.theme import is_dark_palette

# Twelve hues, each in two shades (neighbours of one hue alternate shades).
LIGHT_COLORS = ("#a8d1f5", "#ffc993", "#b5e3a1", "#f5b1be", "#cdb8f0", "#f2e38a",
                "#9fe0da", "#eeb5e4", "#d4e09a", "#b9c2f2", "#f3c4a0", "#a9e6c3")
DARK_COLORS = ("#27476a", "#6b4520", "#2f5a2a", "#6a2f3c", "#4a3a6b", "#5e5420",
                "#1f5855", "#5e3157", "#4b5324", "#343f6e", "#624431", "#25583c")
MAX_FORMATS_PER_BLOCK = 20_000  # a single enormous line is coloured only this far
_CHUNK = 4096


_PICTURE_CODES = [*range(0x2400, 0x2422), 0x2424]  # how pieces.display_text draws controls
_PICTURES = re.compile("[" + "".join(map(chr, _PICTURE_CODES)) + "]")
_pictures_drawable: bool | None = None


def drawable(display: str) -> str:
    """`display` with control pictures as "⌧" when no installed font can draw them (one
    character for one, so offsets hold)."""
    global _pictures_drawable
    if _pictures_drawable is None:
        _pictures_drawable = any(QFontMetrics(QFont(family)).inFontUcs4(0x2400)
                                 for family in QFontDatabase.families())
    if _pictures_drawable or not any(chr(c) in display for c in _PICTURE_CODES):
        return display  # the C scans above are far quicker on megabytes than a regex
    return _PICTURES.sub("⌧", display)


def token_color(slot: int, shade: int = 0) -> str:
    """The background of a token of colour `slot` (and `shade`) in the current theme."""
    dark = is_dark_palette()
    color = QColor((DARK_COLORS if dark else LIGHT_COLORS)[slot % N_COLORS])
    if shade:  # the second shade: a little lighter on dark, darker on light
        color = color.lighter(125) if dark else color.darker(112)
    return color.name()


def common_prefix(a: str, b: str) -> int:
    """Length of the longest common start of a and b (chunked: fast for megabytes)."""
    n, i = min(len(a), len(b)), 0
    while i + _CHUNK <= n and a[i:i + _CHUNK] == b[i:i + _CHUNK]:
        i += _CHUNK
    while i < n and a[i] == b[i]:
        i += 1
    return i


def common_suffix(a: str, b: str, limit: int) -> int:
    """Length of the longest common end of a and b, at most `limit`."""
    n, i = min(len(a), len(b), limit), 0
    la, lb = len(a), len(b)
    while i + _CHUNK <= n and a[la - i - _CHUNK:la - i] == b[lb - i - _CHUNK:lb - i]:
        i += _CHUNK
    while i < n and a[la - i - 1] == b[lb - i - 1]:
        i += 1
    return i


class TokenView(QPlainTextEdit):
    """See the module docstring. `token_hovered(index)` (-1: none), `token_clicked(index)`."""

    token_hovered = Signal(int)
    token_clicked = Signal(int)
    tokens_changed = Signal()

    def __init__(self, object_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        self.setReadOnly(True)
        self.setUndoRedoEnabled(False)
        self.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.viewport().setMouseTracking(True)
        self.spans: TokenSpans | None = None
        self.describe = None  # (index, SplitChar | None) -> the hover text; set by the page
        self.last_hover = ""  # what the hover showed last (for tests and the detail line)
        self._text = ""  # what the document holds (or will, once `_insert` is done)
        self._held = ""  # what the document holds now, while a long text goes in
        self._held_parts, self._inserted = (0, 0), 0  # kept start and end, middle inserted
        self._insert = ChunkedInsert(self)
        self._insert.inserted.connect(self._on_inserted)
        self._insert.finished.connect(self._on_insert_finished)
        self._slots = self._shades = np.zeros(0, dtype=np.int64)
        self._generation = 1
        self._formats: list[list[QTextCharFormat]] = []
        self._special_format = self._split_format = QTextCharFormat()
        self._format_timer = QTimer(self)
        self._format_timer.setSingleShot(True)
        self._format_timer.setInterval(0)
        self._format_timer.timeout.connect(self._format_visible)
        self.apply_theme()
        self.verticalScrollBar().valueChanged.connect(self._schedule_format)
        self.updateRequest.connect(self._schedule_format)

    # -- content -------------------------------------------------------------------------------
    def set_tokens(self, display: str, spans: TokenSpans | None, slots: np.ndarray,
                   shades: np.ndarray) -> None:
        """Show `display` (the shown text) coloured by `spans` (None: plain text)."""
        self._replace_text(drawable(display))
        self.spans, self._slots, self._shades = spans, slots, shades
        self._generation += 1
        self._format_visible()
        self.tokens_changed.emit()

    def clear_tokens(self) -> None:
        self.set_tokens("", None, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))

    @property
    def shown_text(self) -> str:
        return self._text

    @property
    def busy(self) -> bool:
        """Whether a long text is still going into the view (a slice per event-loop turn)."""
        return self._insert.busy

    def set_whitespace_visible(self, on: bool) -> None:
        option = self.document().defaultTextOption()
        flags = QTextOption.Flag.ShowTabsAndSpaces | QTextOption.Flag.ShowLineAndParagraphSeparators
        option.setFlags(option.flags() | flags if on else option.flags() & ~flags)
        self.document().setDefaultTextOption(option)

    def apply_theme(self) -> None:
        dark = is_dark_palette()
        self._formats = []
        for slot in range(N_COLORS):
            shades = []
            for shade in (0, 1):
                fmt = QTextCharFormat()
                fmt.setBackground(QColor(token_color(slot, shade)))
                shades.append(fmt)
            self._formats.append(shades)
        self._special_format = QTextCharFormat()
        self._special_format.setBackground(QColor("#5a5a5a" if dark else "#c4c4c4"))
        self._special_format.setFontWeight(700)
        self._split_format = QTextCharFormat()
        self._split_format.setBackground(QColor("#4d4d4d" if dark else "#e6e6e6"))
        self._split_format.setUnderlineStyle(QTextCharFormat.UnderlineStyle.WaveUnderline)
        self._split_format.setUnderlineColor(QColor("#ff7b7b" if dark else "#c62828"))
        self._generation += 1
        self._schedule_format()

    def _replace_text(self, new: str) -> None:
        """Make the document hold `new`, editing only what differs from what it holds; a long
        new middle goes in a slice per event-loop turn (`ChunkedInsert`)."""
        if self._insert.busy:
            self._insert.cancel()
            self._text = self._held
        old = self._text
        if new == old:
            return
        start = common_prefix(old, new)
        end = common_suffix(old, new, min(len(old), len(new)) - start)
        middle = new[start:len(new) - end]
        cursor = QTextCursor(self.document())
        if (len(old) - start - end) > len(old) // 2:
            self.setPlainText(old[:start] + old[len(old) - end:])  # dropping most: at once
        else:
            first = utf16_length(old[:start])
            cursor.setPosition(first)
            cursor.setPosition(first + utf16_length(old[start:len(old) - end]),
                               QTextCursor.MoveMode.KeepAnchor)
            cursor.removeSelectedText()
        self._text = new
        if len(middle) <= AT_ONCE_CHARS:
            cursor = QTextCursor(self.document())
            cursor.setPosition(utf16_length(new[:start]))
            cursor.insertText(middle)
            return
        self._held_parts, self._inserted = (start, end), 0
        self._held = new[:start] + (new[len(new) - end:] if end else "")
        self._insert.start(utf16_length(new[:start]), middle)

    @Slot(int)
    def _on_inserted(self, n_chars: int) -> None:
        """Keep `_held` = what the document holds: the start, the middle so far, the end."""
        (start, end), new = self._held_parts, self._text
        self._inserted += n_chars
        self._held = new[:start + self._inserted] + (new[len(new) - end:] if end else "")

    @Slot()
    def _on_insert_finished(self) -> None:
        self._held = self._text
        self._generation += 1  # the blocks after the insertion moved while it went in
        self._schedule_format()

    # -- colouring the blocks in sight ----------------------------------------------------------
    @Slot()
    def _schedule_format(self, *_: object) -> None:
        if not self._format_timer.isActive():
            self._format_timer.start()

    @Slot()
    def _format_visible(self) -> None:
        block = self.firstVisibleBlock()
        offset = self.contentOffset()
        height = self.viewport().height()
        extra = 3  # a few blocks below sight, so a small scroll shows them coloured at once
        while block.isValid() and extra > 0:
            if self.blockBoundingGeometry(block).translated(offset).top() > height:
                extra -= 1
            if block.userState() != self._generation:
                block.layout().setFormats(self._block_formats(block.position(), block.length()))
                block.setUserState(self._generation)
                self.document().markContentsDirty(block.position(), block.length())
            block = block.next()

    def _block_formats(self, position: int, length: int) -> list[QTextLayout.FormatRange]:
        spans = self.spans
        if spans is None or not len(spans):
            return []
        end = position + length - 1  # the block's separator takes no format
        first = int(np.searchsorted(spans.utf16_ends, position, side="right"))
        last = min(int(np.searchsorted(spans.utf16_starts, end, side="left")),
                   first + MAX_FORMATS_PER_BLOCK)
        starts = spans.utf16_starts[first:last].tolist()
        ends = spans.utf16_ends[first:last].tolist()
        slots = self._slots[first:last].tolist()
        shades = self._shades[first:last].tolist()
        specials = spans.special[first:last].tolist()
        ranges = []
        for start, stop, slot, shade, special in zip(starts, ends, slots, shades, specials):
            start, stop = max(start, position), min(stop, end)
            if stop > start:
                fmt = self._special_format if special else self._formats[slot][shade]
                ranges.append(_format_range(start - position, stop - start, fmt))
        for split in spans.splits:  # drawn over their token's colour, as one group
            if position <= split.utf16_start < end:
                width = 2 if ord(split.char) > 0xFFFF else 1
                ranges.append(_format_range(split.utf16_start - position, width,
                                            self._split_format))
        return ranges

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        super().resizeEvent(event)
        self._schedule_format()

    # -- hover and click -----------------------------------------------------------------------
    def token_index_at(self, point: QPoint) -> int | None:
        """The token under a viewport point, or None (past a line's end, no tokens)."""
        if self.spans is None or not len(self.spans) or self.busy:
            return None
        cursor = self.cursorForPosition(point)
        position = cursor.position()
        if self.cursorRect(cursor).x() > point.x() and position > 0:
            position -= 1  # the nearest boundary is right of the character under the mouse
        block = self.document().findBlock(position)
        if position >= block.position() + block.length() - 1:
            return None  # beyond the end of the line
        return self.spans.token_at(position, utf16=True)

    def split_at(self, point: QPoint):
        """The split character under a viewport point, if any."""
        if self.spans is None or not self.spans.splits:
            return None
        cursor = self.cursorForPosition(point)
        position = cursor.position()
        if self.cursorRect(cursor).x() > point.x() and position > 0:
            position -= 1
        return self.spans.split_at(position, utf16=True)

    def hover_text(self, point: QPoint) -> str:
        """What a hover at `point` shows ("" where there is no token)."""
        index = self.token_index_at(point)
        if index is None or self.describe is None:
            return ""
        return self.describe(index, self.split_at(point))

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        super().mouseMoveEvent(event)
        point = event.position().toPoint()
        text = self.hover_text(point)
        self.last_hover = text
        index = self.token_index_at(point) if text else None
        self.token_hovered.emit(-1 if index is None else index)
        if not text:
            QToolTip.hideText()

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802
        """The tooltip, when Qt asks for one (after the hover delay): the token's read-out."""
        if event.type() == QEvent.Type.ToolTip and isinstance(event, QHelpEvent):
            text = self.hover_text(event.pos())
            if text:
                QToolTip.showText(event.globalPos(), text, self.viewport())
            else:
                QToolTip.hideText()
                event.ignore()
            return True
        return super().viewportEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and not self.textCursor().hasSelection():
            index = self.token_index_at(event.position().toPoint())
            if index is not None:
                self.token_clicked.emit(index)


def _format_range(start: int, length: int, fmt: QTextCharFormat) -> QTextLayout.FormatRange:
    item = QTextLayout.FormatRange()
    item.start, item.length, item.format = start, length, fmt
    return item
