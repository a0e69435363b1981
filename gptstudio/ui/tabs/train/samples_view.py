"""The list of text samples generated during training, each with its step, and the chosen one.

Samples arrive at every evaluation. Selecting one (or clicking the loss curve near its step)
shows the full text below the list. Left out: generating them (the training worker does that).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QLabel, QListWidget, QListWidgetItem, QPlainTextEdit, QVBoxLayout, QWidget,
)

STEP_ROLE = Qt.ItemDataRole.UserRole
TEXT_ROLE = Qt.ItemDataRole.UserRole + 1


class SamplesPanel(QWidget):
    """`list` (objectName samplesView) of samples, newest first, and the selected sample's text."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setObjectName("samplesView")
        self.list.setUniformItemSizes(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setAlternatingRowColors(True)
        self.text = QPlainTextEdit()
        self.text.setObjectName("sampleText")
        self.text.setReadOnly(True)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setPlaceholderText(
            "Samples appear here at every evaluation: watch them turn from noise into words.")
        self.title = QLabel("<b>Samples</b>")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.text, 2)
        self.list.currentItemChanged.connect(self._on_current_changed)

    def clear(self) -> None:
        self.list.clear()
        self.text.clear()

    def set_samples(self, samples: list[tuple[int, str]]) -> None:
        """Replace the list (oldest first in `samples`, shown newest first)."""
        self.clear()
        for step, text in samples:
            self.add_sample(step, text)

    def add_sample(self, step: int, text: str) -> None:
        """Add a sample at the top; it becomes the shown one unless the user picked another."""
        follow = self.list.currentRow() <= 0
        one_line = " ".join(text.split())
        item = QListWidgetItem(f"step {step:,}:  {one_line[:80]}")
        item.setData(STEP_ROLE, step)
        item.setData(Qt.ItemDataRole.ToolTipRole, text[:500])
        item.setData(TEXT_ROLE, text)
        self.list.insertItem(0, item)
        if follow:
            self.list.setCurrentRow(0)

    def show_step(self, step: int) -> int | None:
        """Select the sample nearest to `step`; returns its step (None if there are none)."""
        best_row, best_gap = None, None
        for row in range(self.list.count()):
            gap = abs(int(self.list.item(row).data(STEP_ROLE)) - step)
            if best_gap is None or gap < best_gap:
                best_row, best_gap = row, gap
        if best_row is None:
            return None
        self.list.setCurrentRow(best_row)
        return int(self.list.item(best_row).data(STEP_ROLE))

    def shown_text(self) -> str:
        return self.text.toPlainText()

    @Slot(QListWidgetItem, QListWidgetItem)
    def _on_current_changed(self, current: QListWidgetItem | None, _previous) -> None:
        if current is None:
            self.text.clear()
            return
        step = int(current.data(STEP_ROLE))
        text = current.data(TEXT_ROLE)
        self.text.setPlainText(f"— step {step:,} —\n{text}")
