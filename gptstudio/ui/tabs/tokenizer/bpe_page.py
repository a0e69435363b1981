"""The "Watch BPE learn" page: train a BPE on the corpus, see its merges, scrub through them.

Training runs in the tab's service (off the GUI thread, with Cancel); its merges arrive in
batches and fill `mergeTable` (rank, pair → new token, count) and the curve of bytes per token
against the number of merges, both redrawn on a timer, not per merge. Once trained, `mergeSlider`
picks how many of the merges to use, and the text is re-tokenized with only those (core's
`lineage.with_first_merges`), so a learner sees words being glued together merge by merge.
Save writes the tokenizer file; "Use for the next run" also makes it the Setup tab's tokenizer.
Left out: the training itself (core) and tokenizing the text (jobs.py).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer, \
    Signal, Slot
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton, QSlider,
    QSpinBox, QSplitter, QTableView, QVBoxLayout, QWidget,
)

from gptstudio.core.tokenizers import BPETokenizer, MergeEvent
from gptstudio.core.tokenizers.pieces import readable, visible
from gptstudio.ui.tabs.tokenizer.describe import stats_text
from gptstudio.ui.tabs.tokenizer.jobs import ViewTokens
from gptstudio.ui.tabs.tokenizer.text_page import wire_view
from gptstudio.ui.tabs.tokenizer.token_view import TokenView
from gptstudio.ui.theme import PlotTheme, plot_theme
from gptstudio.ui.widgets.form import ErrorLabel

REDRAW_MS = 100
COLUMNS = ("merge", "pair", "new token", "id", "count")
Index = QModelIndex | QPersistentModelIndex


def _piece(data: bytes) -> str:
    return visible(readable(data))


class MergeTableModel(QAbstractTableModel):
    """The merges learnt so far, one row each (appended in batches)."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[MergeEvent] = []
        self.vocab: list[bytes] = [bytes([b]) for b in range(256)]  # id -> bytes, as it grows

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802 (Qt's name)
        return 0 if parent.isValid() else len(self.events)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> object:
        if role != Qt.ItemDataRole.DisplayRole or not index.isValid():
            return None
        event = self.events[index.row()]
        left, right = (self.vocab[i] for i in event.pair)
        return (f"{event.index + 1:,}", f"{_piece(left)}  +  {_piece(right)}",
                _piece(event.token_bytes), f"{256 + event.index:,}",
                f"{event.count:,}")[index.column()]

    def append(self, events: tuple[MergeEvent, ...]) -> None:
        if not events:
            return
        first = len(self.events)
        self.beginInsertRows(QModelIndex(), first, first + len(events) - 1)
        self.events.extend(events)
        self.vocab.extend(e.token_bytes for e in events)
        self.endInsertRows()

    def reset(self) -> None:
        self.beginResetModel()
        self.events, self.vocab = [], [bytes([b]) for b in range(256)]
        self.endResetModel()


class BpePage(QWidget):
    """See the module docstring. Signals: `train_requested(vocab, pattern)`,
    `cancel_requested`, `save_requested(path)`, `use_requested`, `slider_moved(n)`."""

    train_requested = Signal(int, str)
    cancel_requested = Signal()
    save_requested = Signal(str)
    use_requested = Signal()
    slider_moved = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vocab = QSpinBox()
        self.vocab.setObjectName("bpeVocabSpin")
        self.vocab.setRange(258, 200_000)
        self.vocab.setValue(512)
        self.vocab.setGroupSeparatorShown(True)
        self.vocab.setToolTip("256 byte tokens + the merges + <|endoftext|>")
        self.pattern = QComboBox()
        self.pattern.setObjectName("bpePatternCombo")
        self.pattern.addItem("GPT-2 pattern", "gpt2")
        self.pattern.addItem("GPT-4 pattern", "gpt4")
        self.pattern.setToolTip("How text is cut into words first; merges never cross words")
        self.train = QPushButton("Train on the corpus")
        self.train.setObjectName("bpeTrainButton")
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName("bpeCancelButton")
        self.progress = QProgressBar()
        self.progress.setObjectName("bpeProgress")
        self.save = QPushButton("Save…")
        self.save.setObjectName("bpeSaveButton")
        self.use = QPushButton("Use for the next run")
        self.use.setObjectName("bpeUseButton")
        self.use.setToolTip("Save it with the runs and make it the Setup tab's tokenizer")
        self.error = ErrorLabel()
        self.error.setObjectName("bpeError")
        row = QHBoxLayout()
        for widget in (QLabel("Vocabulary"), self.vocab, self.pattern, self.train):
            row.addWidget(widget)
        row.addStretch(1)
        progress = QHBoxLayout()
        progress.addWidget(self.progress, 3)
        progress.addWidget(self.cancel)
        progress.addStretch(1)
        progress.addWidget(self.save)
        progress.addWidget(self.use)

        self.model = MergeTableModel()
        self.table = QTableView()
        self.table.setObjectName("mergeTable")
        self.table.setModel(self.model)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.setAlternatingRowColors(True)
        self.plot = pg.PlotWidget()
        self.plot.setObjectName("bpeCurve")
        self.plot.setMenuEnabled(False)
        self.plot.setLabel("bottom", "merges learnt")
        self.plot.setLabel("left", "bytes per token (corpus)")
        self.curve = self.plot.plot()
        self.marker = pg.InfiniteLine(angle=90, movable=False)
        self.plot.addItem(self.marker)
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.table)
        top.addWidget(self.plot)
        top.setSizes([420, 480])

        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("mergeSlider")
        self.slider.setEnabled(False)
        self.slider_label = QLabel("Train a BPE to scrub through its merges.")
        self.slider_label.setObjectName("mergeSliderLabel")
        self.view = TokenView("mergeView")
        self.view_stats = QLabel()
        self.view_stats.setObjectName("mergeStats")
        self.view_error = ErrorLabel()
        bottom = QWidget()
        column = QVBoxLayout(bottom)
        column.setContentsMargins(0, 0, 0, 0)
        scrub = QHBoxLayout()
        scrub.addWidget(QLabel("Merges used"))
        scrub.addWidget(self.slider, 1)
        scrub.addWidget(self.slider_label)
        column.addLayout(scrub)
        column.addWidget(self.view_stats)
        column.addWidget(self.view_error)
        column.addWidget(self.view, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(bottom)
        split.setSizes([300, 300])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(row)
        layout.addLayout(progress)
        layout.addWidget(self.error)
        layout.addWidget(split, 1)

        self.trained: BPETokenizer | None = None
        self._x: list[float] = []
        self._y: list[float] = []
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setInterval(REDRAW_MS)
        self._timer.timeout.connect(self._redraw)
        self.train.clicked.connect(self._on_train_clicked)
        self.cancel.clicked.connect(self.cancel_requested)
        self.save.clicked.connect(self._on_save_clicked)
        self.use.clicked.connect(self.use_requested)
        self.slider.valueChanged.connect(self._on_slider)
        self.apply_theme(plot_theme())
        self.set_training(False)

    # -- training ------------------------------------------------------------------------------
    def set_training(self, training: bool, vocab_size: int = 0) -> None:
        self.train.setEnabled(not training)
        self.cancel.setVisible(training)
        self.progress.setVisible(training)
        self.save.setEnabled(not training and self.trained is not None)
        self.use.setEnabled(not training and self.trained is not None)
        if training:
            self.error.show_error(None)
            self.trained = None
            self.model.reset()
            self._x, self._y, self._dirty = [], [], True
            self.progress.setRange(0, max(1, vocab_size - 257))
            self.progress.setValue(0)
            self.progress.setFormat("Counting words…")
            self.slider.setEnabled(False)
            self.slider_label.setText("Scrub through the merges once training has finished.")
            self._timer.start()

    def add_merges(self, events: tuple[MergeEvent, ...]) -> None:
        self.model.append(events)
        self._x.extend(float(e.index + 1) for e in events)
        self._y.extend(e.compression for e in events)
        last = events[-1]
        self.progress.setValue(last.index + 1)
        self.progress.setFormat(f"merge {last.index + 1:,}/{self.progress.maximum():,}: "
                                f"{_piece(last.token_bytes)} · {last.compression:.2f} bytes/token")
        self._dirty = True

    def finish(self, tokenizer: BPETokenizer | None, message: str = "") -> None:
        """Training ended: with its tokenizer, or with a message ("" when cancelled)."""
        self.trained = tokenizer
        self.set_training(False)
        self._timer.stop()
        self._redraw()
        self.error.show_error(message or None)
        if tokenizer is None:
            return
        n_merges = tokenizer.n_ordinary - 256
        self.slider.blockSignals(True)
        self.slider.setRange(0, n_merges)
        self.slider.setValue(n_merges)
        self.slider.blockSignals(False)
        self.slider.setEnabled(True)
        self._show_slider()

    @property
    def merges_used(self) -> int:
        return self.slider.value()

    def show_result(self, result: ViewTokens) -> None:
        self.view_error.show_error(result.error)
        if result.error or result.spans is None:
            self.view.clear_tokens()
            self.view_stats.setText("")
            return
        wire_view(self.view, result)
        self.view_stats.setText(stats_text(result.stats, shown_chars=result.spans.n_chars))

    def apply_theme(self, theme: PlotTheme) -> None:
        self.plot.setBackground(theme.background)
        for name in ("left", "bottom"):
            axis = self.plot.getPlotItem().getAxis(name)
            axis.setPen(theme.foreground)
            axis.setTextPen(theme.foreground)
        self.curve.setPen(pg.mkPen(theme.train, width=2))
        self.marker.setPen(pg.mkPen(theme.val, width=1))
        self.view.apply_theme()

    # -- slots ---------------------------------------------------------------------------------
    @Slot()
    def _redraw(self) -> None:
        if self._dirty:
            self.curve.setData(np.asarray(self._x), np.asarray(self._y))
            self._dirty = False

    @Slot()
    def _on_train_clicked(self) -> None:
        self.train_requested.emit(self.vocab.value(), str(self.pattern.currentData()))

    @Slot()
    def _on_save_clicked(self) -> None:
        name = f"bpe-{self.trained.vocab_size}.json" if self.trained else "bpe.json"
        path, _ = QFileDialog.getSaveFileName(self, "Save the tokenizer", name,
                                              "Tokenizer (*.json)")
        if path:
            self.save_requested.emit(path)

    @Slot(int)
    def _on_slider(self, value: int) -> None:
        self._show_slider()
        self.slider_moved.emit(value)

    def _show_slider(self) -> None:
        n, total = self.slider.value(), self.slider.maximum()
        self.marker.setValue(n)
        self.slider_label.setText(f"{n:,} of {total:,} merges (vocabulary {256 + n + 1:,})")
