"""The held-out answers of an instruction fine-tune, beside the references, with core's scores.

After an instruction fine-tune ends (or when one is opened), the lab's worker asks core for the
model's greedy responses to the first held-out (test) records (`held_out_responses`); this
table shows exactly what came back: each record's request, its reference answer, the model's
response and their token-overlap F1, and above it the response loss on the references and the
mean F1. Left out: generating and scoring them (core, the lab's worker).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

HEADERS = ("Request", "Reference", "Response", "F1")


def request_text(instruction: str, input_text: str) -> str:
    """A record's request as the table shows it: the instruction, then its input if any."""
    return f"{instruction}\n{input_text}" if input_text else instruction


class ResponsesView(QWidget):
    """`heldOutNote` (the scores) over `heldOutTable` (one row a held-out record)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.note = QLabel()
        self.note.setObjectName("heldOutNote")
        self.note.setWordWrap(True)
        self.note.setTextFormat(Qt.TextFormat.RichText)
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setObjectName("heldOutTable")
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setWordWrap(True)
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header = self.table.horizontalHeader()
        for column in range(len(HEADERS) - 1):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(len(HEADERS) - 1, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip("The model's greedy answers to held-out records it never trained "
                              "on; F1: the share of words it has in common with the reference")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 1)
        self.clear("When the fine-tune ends: its answers to held-out records, beside the "
                   "references.")

    def clear(self, note: str) -> None:
        self.table.setRowCount(0)
        self.note.setText(note)

    def show_progress(self, progress: tuple[int, int]) -> None:
        """(records answered, records to answer), as the lab's worker reports them."""
        self.note.setText(f"Answering held-out record {progress[0]} of {progress[1]}…")

    def show_report(self, report, step: int, n_test: int) -> None:
        """Core's `ResponseReport` for the checkpoint at `step`; `n_test`: records in the split."""
        n = len(report.responses)
        shown = f"all {n}" if n >= n_test else f"the first {n} of {n_test}"
        self.note.setText(
            f"<b>Held-out response loss {report.response_loss:.3f}</b> · mean overlap F1 "
            f"{report.mean_overlap_f1:.2f} on {shown} test records, checkpoint at step {step} "
            "(greedy answers).")
        self.table.setRowCount(n)
        for row, r in enumerate(report.responses):
            cells = (request_text(r.instruction, r.input), r.reference, r.response,
                     f"{r.overlap_f1:.2f}")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                if column == len(cells) - 1:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                self.table.setItem(row, column, item)

    def rows(self) -> list[tuple[str, ...]]:
        """The cells shown, row by row."""
        return [tuple(self.table.item(i, j).text() for j in range(self.table.columnCount()))
                for i in range(self.table.rowCount())]
