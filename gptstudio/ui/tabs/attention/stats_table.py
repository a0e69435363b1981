"""What each head does, as a table: label, entropy, previous/first/same-token share, ideal match.

One row per head of every layer (sortable by any column); selecting a row chooses that head
(`head_chosen(layer, head)`). The numbers are the engine's (`core.attention.HeadStats`).
Left out: computing them.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, \
    QWidget

from gptstudio.core.attention.stats import HeadStats

COLUMNS = ("Layer", "Head", "Pattern", "Entropy (bits)", "Previous", "First", "Same", "Ideal")
TIPS = ("", "", "A short name when one pattern holds at least half of the weight",
        "Mean over query rows; 0 = looks at one token only",
        "Mean weight on the token just before", "Mean weight on the first token",
        "Mean weight on the token itself",
        "Mean weight on the ideal pattern of the chosen task")


class _Number(QTableWidgetItem):
    """A cell that sorts by its number (NaN last), not by its text."""

    def __init__(self, value: float | None, text: str) -> None:
        super().__init__(text)
        self.value = math.inf if value is None or not math.isfinite(value) else value
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        return self.value < getattr(other, "value", math.inf)


def _share(x: float | None) -> str:
    return "" if x is None or not math.isfinite(x) else f"{x:.0%}"


class HeadStatsTable(QTableWidget):
    """objectName headStatsTable; see the module docstring."""

    head_chosen = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setObjectName("headStatsTable")
        self.setHorizontalHeaderLabels(COLUMNS)
        for column, tip in enumerate(TIPS):
            if tip:
                self.horizontalHeaderItem(column).setToolTip(tip)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.itemSelectionChanged.connect(self._on_selection)
        self._filling = False

    def set_stats(self, stats: tuple[HeadStats, ...] | list[HeadStats]) -> None:
        self._filling = True
        self.setSortingEnabled(False)
        self.setRowCount(len(stats))
        show_ideal = any(s.ideal is not None for s in stats)
        for row, s in enumerate(stats):
            cells = [_Number(s.layer, str(s.layer + 1)), _Number(s.head, str(s.head + 1)),
                     QTableWidgetItem(s.label or "—"),
                     _Number(s.entropy, "" if not math.isfinite(s.entropy) else
                             f"{s.entropy:.2f}"),
                     _Number(s.previous, _share(s.previous)), _Number(s.first, _share(s.first)),
                     _Number(s.same, _share(s.same)), _Number(s.ideal, _share(s.ideal))]
            for column, item in enumerate(cells):
                item.setData(Qt.ItemDataRole.UserRole, (s.layer, s.head))
                self.setItem(row, column, item)
        self.setColumnHidden(len(COLUMNS) - 1, not show_ideal)
        self.setSortingEnabled(True)
        self._filling = False

    def select_head(self, layer: int, head: int) -> None:
        for row in range(self.rowCount()):
            item = self.item(row, 0)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == (layer, head):
                self._filling = True
                self.selectRow(row)
                self.scrollToItem(item)
                self._filling = False
                return

    @Slot()
    def _on_selection(self) -> None:
        items = self.selectedItems()
        if items and not self._filling:
            layer, head = items[0].data(Qt.ItemDataRole.UserRole)
            self.head_chosen.emit(layer, head)
