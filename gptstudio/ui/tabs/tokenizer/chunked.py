"""Megabytes of text in an editor without freezing the window: in by slices, out by edits.

Qt inserts text into a document in one go, and a 10 MB paste holds the event loop for over a
second. `ChunkedInsert` inserts a long text a slice at a time, one slice per turn of the event
loop, so the window repaints and answers between slices; the token view uses it for a long new
text, the input box for a long paste (read-only until the paste is in). Reading the text back
out of the document costs as much again at every edit, so `PasteBox.text()` keeps a copy that
follows the document's edits (`contentsChange`) and reads the whole document only when it
cannot (characters outside the BMP shift Qt's UTF-16 positions). The copy is the raw text:
Qt's `toPlainText` would turn no-break spaces into spaces. Left out: what the text is for (the
tab) and colouring it (token_view.py).
"""

from __future__ import annotations

import re

from PySide6.QtCore import QMimeData, QObject, QTimer, Signal, Slot
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QPlainTextEdit, QWidget

CHUNK_CHARS = 50_000  # a slice Qt inserts in a few milliseconds
AT_ONCE_CHARS = 200_000  # shorter texts go in at once: slicing them would only add turns
_ASTRAL = re.compile("[\U00010000-\U0010FFFF]")  # two UTF-16 units each


def utf16_length(text: str) -> int:
    """How many UTF-16 code units Qt counts for `text`."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


class ChunkedInsert(QObject):
    """Insert `text` at a position of an editor's document, CHUNK_CHARS per event-loop turn.

    `inserted(n_chars)` follows each slice, `finished` the last one."""

    inserted = Signal(int)
    finished = Signal()

    def __init__(self, editor: QPlainTextEdit, chunk_chars: int = CHUNK_CHARS) -> None:
        super().__init__(editor)
        self.editor, self.chunk_chars = editor, chunk_chars
        self._rest = ""
        self._position = 0  # UTF-16 position where the next slice goes
        self._timer = QTimer(self)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._insert_slice)

    @property
    def busy(self) -> bool:
        return bool(self._rest)

    def start(self, position: int, text: str) -> None:
        """Begin inserting `text` at UTF-16 `position` (the first slice now)."""
        self._rest, self._position = text, position
        self._insert_slice()
        if self._rest:
            self._timer.start()

    def cancel(self) -> None:
        """Stop; what was not inserted yet is dropped."""
        self._timer.stop()
        self._rest = ""

    @Slot()
    def _insert_slice(self) -> None:
        piece, self._rest = self._rest[:self.chunk_chars], self._rest[self.chunk_chars:]
        cursor = QTextCursor(self.editor.document())
        cursor.setPosition(self._position)
        cursor.insertText(piece)
        self._position += utf16_length(piece)
        self.inserted.emit(len(piece))
        if not self._rest:
            self._timer.stop()
            self.finished.emit()


class PasteBox(QPlainTextEdit):
    """A plain-text editor whose long pastes go in a chunk per turn (read-only meanwhile);
    `paste_progress(done, total)` in characters while one goes in."""

    paste_progress = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._insert = ChunkedInsert(self)
        self._insert.inserted.connect(self._on_inserted)
        self._insert.finished.connect(self._on_finished)
        self._done = self._total = 0
        self._copy: str | None = ""  # the document's raw text; None: read it again
        self._follows = True  # whether edits can be applied to the copy (no astral chars)
        self.document().contentsChange.connect(self._on_contents_change)

    def text(self) -> str:
        """The text, as typed or pasted (newlines as "\\n"), from the copy when it is good."""
        if self._copy is None:
            self._copy = _raw_text(self)
            self._follows = _ASTRAL.search(self._copy) is None
        return self._copy

    @Slot(int, int, int)
    def _on_contents_change(self, position: int, removed: int, added: int) -> None:
        copy = self._copy
        if copy is None or not self._follows:
            self._copy = None  # UTF-16 positions are not Python's: read it all when asked
            return
        size = self.document().characterCount() - 1  # without the last paragraph's end
        if position + added > size or position + removed > len(copy):
            self._copy = None  # an edit counting the last paragraph end (setPlainText)
            return
        cursor = QTextCursor(self.document())
        cursor.setPosition(position)
        cursor.setPosition(position + added, QTextCursor.MoveMode.KeepAnchor)
        new = cursor.selectedText().replace("\u2029", "\n")
        edited = copy[:position] + new + copy[position + removed:]
        fits = len(edited) == size and _ASTRAL.search(new) is None
        self._copy = edited if fits else None

    @property
    def pasting(self) -> bool:
        return self._insert.busy

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 (Qt's name)
        text = source.text() if source.hasText() else ""
        if len(text) <= AT_ONCE_CHARS or self.pasting:
            super().insertFromMimeData(source)
            return
        cursor = self.textCursor()
        cursor.removeSelectedText()
        self._done, self._total = 0, len(text)
        self.setReadOnly(True)  # typing into a half-pasted text would interleave with it
        self._insert.start(cursor.position(), text)

    @Slot(int)
    def _on_inserted(self, n_chars: int) -> None:
        self._done += n_chars
        self.paste_progress.emit(self._done, self._total)

    @Slot()
    def _on_finished(self) -> None:
        self.setReadOnly(False)
        cursor = self.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        self.setTextCursor(cursor)


def _raw_text(editor: QPlainTextEdit) -> str:
    """The document's text without Qt's plain-text conversions (block ends become "\\n")."""
    return editor.document().toRawText().replace("\u2029", "\n")
