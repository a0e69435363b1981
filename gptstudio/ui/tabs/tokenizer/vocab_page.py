"""The "Vocabulary" page: search a tokenizer's vocabulary, sort it, see where a token came from.

The table lists core's `vocab.vocabulary` (listed in the background: a second for 200k ids),
filtered and sorted by `vocab.search_vocabulary`; a token's merge parents are worked out only
for the rows in sight (`lineage.token_parents`), and selecting a row shows the merges that built
it. Left out: the vocabulary itself (core) and which tokenizer is shown (the tab's picker).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, \
    Signal, Slot
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QSplitter, QTableView, QTextBrowser,
    QVBoxLayout, QWidget,
)

from gptstudio.core.errors import GPTStudioError
from gptstudio.core.tokenizers import Tokenizer
from gptstudio.core.tokenizers.lineage import token_lineage, token_parents
from gptstudio.core.tokenizers.vocab import Vocabulary, search_vocabulary
from gptstudio.ui.tabs.tokenizer.describe import lineage_html

COLUMNS = ("id (rank)", "token", "bytes", "merge parents")
Index = QModelIndex | QPersistentModelIndex


class VocabularyModel(QAbstractTableModel):
    """The rows of a vocabulary search; parents computed when a row is first drawn."""

    def __init__(self) -> None:
        super().__init__()
        self.tokenizer: Tokenizer | None = None
        self.vocab: Vocabulary | None = None
        self.ids = np.zeros(0, dtype=np.int64)
        self._parents: dict[int, str] = {}

    def set_rows(self, tokenizer: Tokenizer | None, vocab: Vocabulary | None,
                 ids: np.ndarray) -> None:
        self.beginResetModel()
        if tokenizer is not self.tokenizer:
            self._parents = {}
        self.tokenizer, self.vocab, self.ids = tokenizer, vocab, ids
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802 (Qt's name)
        return 0 if parent.isValid() else len(self.ids)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid() or self.vocab is None:
            return None
        token_id = int(self.ids[index.row()])
        if role == Qt.ItemDataRole.UserRole:
            return token_id
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        column = index.column()
        if column == 0:
            return f"{token_id:,}"
        if column == 1:
            return self.vocab.pieces[token_id]
        if column == 2:
            return str(int(self.vocab.lengths[token_id]))
        return self.parents(token_id)

    def parents(self, token_id: int) -> str:
        """"'␣t' + 'he'", "(a byte)", "(special)" or "" for a token without parents."""
        if token_id not in self._parents and self.tokenizer is not None and self.vocab:
            if self.vocab.special[token_id]:
                text = "(special)"
            else:
                try:
                    pair = token_parents(self.tokenizer, token_id)
                except GPTStudioError as exc:
                    pair, text = None, str(exc)
                else:
                    text = "" if self.tokenizer.kind == "char" else "(a byte)"
                if pair is not None:
                    text = f"{self.vocab.pieces[pair[0]]}  +  {self.vocab.pieces[pair[1]]}"
            self._parents[token_id] = text
        return self._parents.get(token_id, "")


class VocabPage(QWidget):
    """See the module docstring. `wanted` asks the tab for the shown tokenizer's vocabulary."""

    wanted = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.search = QLineEdit()
        self.search.setObjectName("vocabSearch")
        self.search.setPlaceholderText("Search tokens (␣ is a space), or an id")
        self.search.setClearButtonEnabled(True)
        self.order = QComboBox()
        self.order.setObjectName("vocabSort")
        self.order.addItem("by rank (= id)", "rank")
        self.order.addItem("longest first", "length")
        self.count = QLabel()
        self.count.setObjectName("vocabCount")
        self.model = VocabularyModel()
        self.table = QTableView()
        self.table.setObjectName("vocabTable")
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QTableView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QTableView.SelectionMode.SingleSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.lineage = QTextBrowser()
        self.lineage.setObjectName("vocabLineage")
        self.lineage.setPlaceholderText("Select a token to see the merges that built it.")
        row = QHBoxLayout()
        row.addWidget(self.search, 1)
        row.addWidget(self.order)
        row.addWidget(self.count)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.table)
        split.addWidget(self.lineage)
        split.setSizes([560, 340])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(split, 1)
        self.tokenizer: Tokenizer | None = None
        self.vocab: Vocabulary | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)  # search once typing pauses
        self._timer.timeout.connect(self.refresh)
        self.search.textChanged.connect(self._timer.start)
        self.order.currentIndexChanged.connect(self.refresh)
        self.table.selectionModel().currentRowChanged.connect(self._on_row)

    def needs(self, tokenizer: Tokenizer | None) -> bool:
        """Whether the vocabulary of `tokenizer` still has to be listed."""
        return tokenizer is not None and (self.vocab is None or tokenizer is not self.tokenizer)

    def set_loading(self, tokenizer: Tokenizer | None) -> None:
        self.tokenizer, self.vocab = tokenizer, None
        self.model.set_rows(None, None, np.zeros(0, dtype=np.int64))
        self.count.setText("Listing the vocabulary…" if tokenizer else "No tokenizer.")

    def show_vocabulary(self, tokenizer: Tokenizer, vocab: Vocabulary) -> None:
        if tokenizer is not self.tokenizer:
            return  # the picker moved on since this was asked for
        self.vocab = vocab
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        if self.vocab is None:
            return
        ids = search_vocabulary(self.vocab, self.search.text(), str(self.order.currentData()))
        self.model.set_rows(self.tokenizer, self.vocab, ids)
        self.count.setText(f"{len(ids):,} of {len(self.vocab):,} tokens")

    @Slot(QModelIndex, QModelIndex)
    def _on_row(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if not current.isValid() or self.tokenizer is None:
            return
        token_id = int(self.model.data(current, Qt.ItemDataRole.UserRole))
        try:
            self.lineage.setHtml(lineage_html(self.tokenizer,
                                              token_lineage(self.tokenizer, token_id)))
        except GPTStudioError as exc:
            self.lineage.setPlainText(str(exc))
