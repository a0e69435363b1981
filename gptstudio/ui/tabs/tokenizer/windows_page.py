"""The "Windows" page (`windowExplorer`): the training examples cut from the tokenized corpus.

With a block size and a stride it shows one window: the input x and its target y (x shifted by
one) token under token, how many windows there are and how much neighbours overlap, and one
batch as the matrix of ids the model receives (from the epoch loader or from the trainer's
random starts). All of it is core's `data.windows.WindowPlan` over the corpus tokenized as for
training. The stride is also a real option of the engine: a full-pass evaluation of the current
run over its validation split, here and in `gptstudio eval --stride`.
Left out: tokenizing the corpus and the evaluation (the tab's service, through core).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal, \
    Slot
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QComboBox, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton, QSpinBox,
    QTableView, QVBoxLayout, QWidget,
)

from gptstudio.core.data.windows import WindowPlan
from gptstudio.core.errors import GPTStudioError
from gptstudio.core.tokenizers import Tokenizer
from gptstudio.core.tokenizers.explain import color_slots
from gptstudio.ui.services.tokenizers import CorpusTokens
from gptstudio.ui.tabs.tokenizer.describe import piece_label
from gptstudio.ui.tabs.tokenizer.jobs import N_COLORS
from gptstudio.ui.tabs.tokenizer.token_view import token_color
from gptstudio.ui.widgets.form import ErrorLabel

Index = QModelIndex | QPersistentModelIndex


class IdsTableModel(QAbstractTableModel):
    """A matrix of token ids, each cell its piece over its id on the token's colour; rows
    named by `row_names`, columns numbered from `first_column`."""

    def __init__(self) -> None:
        super().__init__()
        self.ids = np.zeros((0, 0), dtype=np.int64)
        self.slots = self.ids
        self.row_names: list[str] = []
        self.first_column = 0
        self.tokenizer: Tokenizer | None = None

    def set_ids(self, tokenizer: Tokenizer | None, ids: np.ndarray, row_names: list[str],
                first_column: int = 0) -> None:
        self.beginResetModel()
        self.tokenizer, self.ids, self.row_names = tokenizer, ids, row_names
        self.slots = color_slots(ids.ravel(), N_COLORS)[0].reshape(ids.shape)
        self.first_column = first_column
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802 (Qt's name)
        return 0 if parent.isValid() else self.ids.shape[0]

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else self.ids.shape[1]

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if orientation == Qt.Orientation.Horizontal:
            return f"{self.first_column + section:,}"
        return self.row_names[section] if section < len(self.row_names) else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if not index.isValid():
            return None
        token_id = int(self.ids[index.row(), index.column()])
        if role == Qt.ItemDataRole.UserRole:
            return token_id
        if role == Qt.ItemDataRole.DisplayRole and self.tokenizer is not None:
            return f"{piece_label(self.tokenizer, token_id)}\n{token_id}"
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignCenter)
        if role == Qt.ItemDataRole.BackgroundRole:
            return QColor(token_color(int(self.slots[index.row(), index.column()])))
        return None


def _table(object_name: str) -> tuple[QTableView, IdsTableModel]:
    model = IdsTableModel()
    table = QTableView()
    table.setObjectName(object_name)
    table.setModel(model)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    return table, model


def _spin(object_name: str, value: int, maximum: int, tip: str) -> QSpinBox:
    spin = QSpinBox()
    spin.setObjectName(object_name)
    spin.setRange(1, maximum)
    spin.setValue(value)
    spin.setToolTip(tip)
    return spin


class WindowsPage(QWidget):
    """See the module docstring. `evaluate_requested(stride)`, `cancel_requested`."""

    evaluate_requested = Signal(int)
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("windowExplorer")
        self.block = _spin("blockSizeSpin", 8, 4096, "Tokens per window (the model's context)")
        self.stride = _spin("strideSpin", 8, 4096, "Tokens from one window's start to the next")
        self.index = _spin("windowIndexSpin", 1, 1, "Which window to show")
        self.index.setMinimum(0)
        self.index.setValue(0)
        self.batch = _spin("batchSizeSpin", 4, 64, "Windows in one batch")
        self.source = QComboBox()
        self.source.setObjectName("batchSourceCombo")
        self.source.addItem("epoch loader", "epoch")
        self.source.addItem("trainer's draw", "trainer")
        self.source.setToolTip("Epoch loader: these windows, shuffled by a seeded generator. "
                               "Trainer: windows at random start positions (RandomBatcher), "
                               "as training draws them.")
        row = QHBoxLayout()
        for label, widget in (("Block size", self.block), ("Stride", self.stride),
                              ("Window", self.index)):
            row.addWidget(QLabel(label))
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(QLabel("Batch"))
        row.addWidget(self.batch)
        row.addWidget(self.source)
        self.stats = QLabel("The corpus is tokenized when this page is first shown.")
        self.stats.setObjectName("windowStats")
        self.stats.setWordWrap(True)
        self.error = ErrorLabel()
        self.error.setObjectName("windowError")
        self.window_table, self.window_model = _table("windowTable")
        self.x_table, self.x_model = _table("batchXTable")
        self.y_table, self.y_model = _table("batchYTable")
        batches = QHBoxLayout()
        for title, table in (("x: the ids the model reads (B × T)", self.x_table),
                             ("y: the ids it must predict", self.y_table)):
            group = QGroupBox(title)
            QVBoxLayout(group).addWidget(table)
            batches.addWidget(group)

        self.evaluate = QPushButton("Full-pass evaluation")
        self.evaluate.setObjectName("fullPassButton")
        self.evaluate.setToolTip("Every window of the validation split, one every <stride> "
                                 "tokens (the run's own block size), each token scored once")
        self.eval_cancel = QPushButton("Cancel")
        self.eval_progress = QProgressBar()
        self.eval_progress.setObjectName("fullPassProgress")
        self.eval_result = QLabel("The latest checkpoint of the run opened or trained, over its "
                                  "validation split, with this stride.")
        self.eval_result.setObjectName("fullPassResult")
        self.eval_result.setWordWrap(True)
        evaluate = QHBoxLayout()
        evaluate.addWidget(self.evaluate)
        evaluate.addWidget(self.eval_cancel)
        evaluate.addWidget(self.eval_progress)
        evaluate.addWidget(self.eval_result, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addWidget(self.stats)
        layout.addWidget(self.error)
        layout.addWidget(self.window_table, 2)
        layout.addLayout(batches, 3)
        layout.addLayout(evaluate)
        self.corpus_tokens: CorpusTokens | None = None
        self.plan: WindowPlan | None = None
        self.set_evaluating(False)
        for spin in (self.block, self.stride, self.index, self.batch):
            spin.valueChanged.connect(self.refresh)
        self.source.currentIndexChanged.connect(self.refresh)
        self.evaluate.clicked.connect(self._on_evaluate)
        self.eval_cancel.clicked.connect(self.cancel_requested)

    def needs(self, tokenizer: Tokenizer | None, corpus: object) -> bool:
        current = self.corpus_tokens
        return tokenizer is not None and corpus is not None and (
            current is None or current.tokenizer is not tokenizer or current.corpus is not corpus)

    def set_loading(self, text: str) -> None:
        self.corpus_tokens = None
        self.stats.setText(text)
        for model in (self.window_model, self.x_model, self.y_model):
            model.set_ids(None, np.zeros((0, 0), dtype=np.int64), [])

    def show_tokens(self, corpus_tokens: CorpusTokens) -> None:
        self.corpus_tokens = corpus_tokens
        self.refresh()

    def shown_window(self) -> tuple[np.ndarray, np.ndarray]:
        """The x and y rows the window table shows (the ids in its cells)."""
        return self.window_model.ids[0].copy(), self.window_model.ids[1].copy()

    @Slot()
    def refresh(self, *_: object) -> None:
        data = self.corpus_tokens
        if data is None:
            return
        tokens, tokenizer = data.tokens, data.tokenizer
        try:
            plan = WindowPlan(len(tokens), self.block.value(), self.stride.value())
            self.index.setMaximum(plan.n_windows - 1)
            x, y = plan.window(tokens, self.index.value())
            starts, bx, by = plan.batch(tokens, self.batch.value(),
                                        source=str(self.source.currentData()))
        except GPTStudioError as exc:
            self.plan = None
            self.error.show_error(str(exc))
            return
        self.plan = plan
        self.error.show_error(None)
        start = plan.start(self.index.value())
        self.window_model.set_ids(tokenizer, np.stack([x, y]),
                                  ["x (input)", "y (target)"], first_column=start)
        names = [f"start {s:,}" for s in starts.tolist()]
        self.x_model.set_ids(tokenizer, bx, names)
        self.y_model.set_ids(tokenizer, by, names)
        if plan.overlap:
            share = (f"consecutive windows share {plan.overlap:,} tokens "
                     f"({plan.overlap_fraction:.0%} of a window)")
        elif plan.gap:
            share = f"windows do not overlap; {plan.gap:,} tokens between two are skipped"
        else:
            share = "windows do not overlap"
        self.stats.setText(
            f"{len(tokens):,} tokens ({tokenizer.name}) → <b>{plan.n_windows:,} windows</b> of "
            f"{plan.block_size:,}; {share}; {plan.n_left_out:,} tokens at the end fit in no "
            f"window. Window {self.index.value():,} starts at token {start:,}: y[t] is the "
            f"token after x[t].")

    def set_evaluating(self, evaluating: bool) -> None:
        self.evaluate.setEnabled(not evaluating)
        self.eval_cancel.setVisible(evaluating)
        self.eval_progress.setVisible(evaluating)
        if evaluating:
            self.eval_progress.setRange(0, 0)

    @Slot()
    def _on_evaluate(self) -> None:
        self.evaluate_requested.emit(self.stride.value())
