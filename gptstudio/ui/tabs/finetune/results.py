"""The Fine-tune tab's results: the accuracy curves, the confusion matrix, the "try it" box
(the last two, with the accuracy read-out, an instruction run's held-out answers
(`responses.py`) and the chat button, in the side `RunPanel`).

All of them only show what core computed: the accuracy of each split at every evaluation and the
validation confusion matrix arrive as `AccuracyEvent`s (through `RunHistory.add_event`, the one
mapping from events to plotted columns), a typed text's label and probabilities as a core
`Prediction` computed in the lab's worker. Left out: where those come from (the tab, the lab).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton,
    QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget,
)

from gptstudio.ui.history import RunHistory
from gptstudio.ui.tabs.finetune.responses import ResponsesView
from gptstudio.ui.theme import PlotTheme, plot_theme
from gptstudio.ui.widgets.plots import LivePlot

SPLIT_COLUMNS = (("train_accuracy", "train"), ("val_accuracy", "validation"),
                 ("test_accuracy", "test"))


class AccuracyPlot(LivePlot):
    """Accuracy (0–100 %) of each split at every evaluation of the current run."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("accuracyPlot")
        item = self.getPlotItem()
        item.setLabel("left", "accuracy (%)")
        item.setLabel("bottom", "step")
        self.legend = item.addLegend(offset=(-10, -10))
        self._lines = {column: self._curve(label) for column, label in SPLIT_COLUMNS}
        for line in self._lines.values():
            line.setSymbol("o")
            line.setSymbolSize(5)
        self.setYRange(0, 100, padding=0.02)
        self.apply_theme(plot_theme())

    def data_x_max(self) -> float:
        steps = self.history.accuracy.column("step")
        return float(np.nanmax(steps)) if len(steps) else 0.0

    def apply_theme(self, theme: PlotTheme) -> None:
        self._style(theme)
        self.legend.setLabelTextColor(theme.foreground)
        for _, label in self.legend.items:
            label.setText(label.text)
        colors = (theme.train, theme.val, theme.overlays[0])
        for (column, _), color in zip(SPLIT_COLUMNS, colors):
            self._lines[column].setPen(pg.mkPen(QColor(color), width=2))
            self._lines[column].setSymbolBrush(QBrush(QColor(color)))
            self._lines[column].setSymbolPen(None)

    def refresh(self) -> None:
        key = (self.history.version,)
        if key == self._drawn_key:
            return
        self._drawn_key = key
        table = self.history.accuracy
        for column, line in self._lines.items():
            line.setData(table.column("step"), 100 * table.column(column), connect="finite")
        self._follow()


class ConfusionTable(QTableWidget):
    """Rows: the true label; columns: the predicted one; counts, the diagonal highlighted."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("confusionTable")
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.horizontalHeader().setStretchLastSection(True)
        self.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.setToolTip("Validation examples by true label (rows) and predicted label "
                        "(columns), at the latest evaluation; the diagonal is right")
        self.theme = plot_theme()
        self._fit_height()

    def show_confusion(self, labels: tuple[str, ...], counts: tuple[tuple[int, ...], ...]
                       ) -> None:
        n = len(labels)
        self.setRowCount(n)
        self.setColumnCount(n)
        self.setHorizontalHeaderLabels(list(labels))
        self.setVerticalHeaderLabels(list(labels))
        for j, label in enumerate(labels):
            self.horizontalHeaderItem(j).setToolTip(f"predicted {label}")
        for i in range(n):
            for j in range(n):
                item = QTableWidgetItem(str(counts[i][j]))
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                if i == j:
                    ok = QColor(self.theme.ok)
                    ok.setAlpha(60)
                    item.setBackground(QBrush(ok))
                self.setItem(i, j, item)
        self._fit_height()

    def clear_counts(self) -> None:
        self.setRowCount(0)
        self.setColumnCount(0)
        self._fit_height()

    def _fit_height(self) -> None:
        """As tall as its rows (at most about ten), so the space below goes to the others."""
        rows = sum(self.rowHeight(i) for i in range(min(self.rowCount(), 10)))
        self.setFixedHeight(self.horizontalHeader().height() + rows + 2 * self.frameWidth() + 2)

    def counts(self) -> list[list[int]]:
        """The counts shown (rows: true label)."""
        return [[int(self.item(i, j).text()) for j in range(self.columnCount())]
                for i in range(self.rowCount())]

    def apply_theme(self, theme: PlotTheme) -> None:
        self.theme = theme
        if self.rowCount():
            labels = tuple(self.verticalHeaderItem(i).text() for i in range(self.rowCount()))
            self.show_confusion(labels, tuple(tuple(row) for row in self.counts()))


class TryItBox(QGroupBox):
    """Type a text, ask the run's classifier: its label and every label's probability."""

    classify_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Try it", parent)
        self.input = QLineEdit()
        self.input.setObjectName("tryItInput")
        self.input.setPlaceholderText("Type a passage to classify…")
        self.button = QPushButton("Classify")
        self.button.setObjectName("tryItButton")
        self.result = QLabel("Train a classifier, then type a text here.")
        self.result.setObjectName("tryItResult")
        self.result.setWordWrap(True)
        self.result.setTextFormat(Qt.TextFormat.RichText)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.button)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.result)
        self.button.clicked.connect(self._request)
        self.input.returnPressed.connect(self._request)
        self.set_available(False, "Train a classifier, then type a text here.")

    def set_available(self, on: bool, note: str = "") -> None:
        self.input.setEnabled(on)
        self.button.setEnabled(on)
        if note:
            self.result.setText(note)

    def _request(self) -> None:
        text = self.input.text()
        if self.button.isEnabled() and text.strip():
            self.result.setText("Classifying…")
            self.classify_requested.emit(text)

    def show_prediction(self, label: str, probabilities: dict[str, float], step: int,
                        truncated: bool) -> None:
        """The label in bold, then each label's probability, likeliest first."""
        ranked = sorted(probabilities.items(), key=lambda kv: -kv[1])
        bars = "".join(f"<tr><td>{name}</td><td align='right'>{p:.1%}</td>"
                       f"<td>{'█' * max(1, round(20 * p)) if p >= 0.005 else ''}</td></tr>"
                       for name, p in ranked)
        note = " (cut to the classifier's length)" if truncated else ""
        self.result.setText(f"<b>{label}</b> — checkpoint at step {step}{note}"
                            f"<table cellspacing='4'>{bars}</table>")


def percent(value: float) -> str:
    return f"{value:.1%}" if math.isfinite(value) else "–"


class RunPanel(QWidget):
    """The shown fine-tune's figures and uses: accuracy, confusion matrix, try it, an
    instruction run's held-out answers (`responses`), chat."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.accuracy = QLabel("Accuracy appears here at each evaluation.")
        self.accuracy.setObjectName("accuracyLabel")
        self.accuracy.setWordWrap(True)
        self.confusion_note = QLabel()
        self.confusion_note.setWordWrap(True)
        self.confusion = ConfusionTable()
        self.try_it = TryItBox()
        self.responses = ResponsesView()
        self.chat_button = QPushButton("Chat with this model on the Generate tab")
        self.chat_button.setObjectName("openChatButton")
        self.chat_button.setEnabled(False)
        side = QVBoxLayout(self)
        side.setContentsMargins(0, 0, 0, 0)
        for widget in (self.accuracy, self.confusion_note, self.confusion, self.try_it,
                       self.chat_button):
            side.addWidget(widget)
        side.addWidget(self.responses, 1)
        side.addStretch(0)  # a classifier's widgets stay at the top
        self.clear("Confusion matrix (validation): after the first evaluation.")

    def set_task(self, task: str) -> None:
        """Show what a run of `task` has: accuracy, matrix and "try it" for a classifier, the
        held-out answers and the chat button for an instruction run."""
        classify = task == "classification"
        for widget in (self.confusion_note, self.confusion, self.try_it):
            widget.setVisible(classify)
        for widget in (self.chat_button, self.responses):
            widget.setVisible(not classify)
        if not classify:
            self.accuracy.setText("An instruction fine-tune is measured by its loss on the "
                                  "responses alone (the validation points of the loss plot); "
                                  "when it ends, by its answers to held-out records below. "
                                  "Then chat with it.")
        elif not self.confusion.rowCount():
            self.accuracy.setText("Accuracy appears here at each evaluation.")

    def clear(self, note: str) -> None:
        self.confusion.clear_counts()
        self.confusion_note.setText(note)
        self.responses.clear("When the fine-tune ends: its answers to held-out records, beside "
                             "the references.")

    def show_accuracy(self, history: RunHistory) -> None:
        """The latest accuracies (and the first: before fine-tuning) and confusion matrix."""
        table, last = history.accuracy, history.confusion
        if not len(table) or last is None:
            return
        val = table.column("val_accuracy")
        self.accuracy.setText(
            f"<b>Validation accuracy {percent(val[-1])}</b> at step {last.step} (before "
            f"fine-tuning: {percent(val[0])}) · train {percent(table.last('train_accuracy'))}"
            f" · test {percent(table.last('test_accuracy'))}")
        self.confusion_note.setText(f"Confusion matrix on the validation examples read at "
                                    f"step {last.step} (rows: true label, columns: predicted).")
        self.confusion.show_confusion(last.labels, last.confusion)

    def show_report(self, report, step: int, before: float) -> None:
        """Core's final figures (`ClassificationReport`: every example of every split) and the
        test split's confusion matrix; `before`: the validation accuracy before fine-tuning."""
        acc, n = report.accuracy, report.n_examples
        self.accuracy.setText(
            f"<b>Test accuracy {percent(acc['test'])}</b> on all {n['test']} test examples, "
            f"checkpoint at step {step} · validation {percent(acc['val'])} (before "
            f"fine-tuning: {percent(before)}) · train {percent(acc['train'])}")
        self.confusion_note.setText(f"Confusion matrix on all {n['test']} test examples (rows: "
                                    f"true label, columns: predicted).")
        self.confusion.show_confusion(report.labels, tuple(tuple(int(c) for c in row) for row
                                                           in report.confusion["test"]))

    def set_tools(self, run_name: str | None, *, classifier: bool, ready: bool,
                  chat: bool) -> None:
        """"Try it" for a classifier that is `ready` (not training), chat for an instruction
        run."""
        if classifier and ready:
            self.try_it.set_available(True, "" if self.try_it.input.isEnabled() else
                                      f"Type a text for {run_name} to classify.")
        else:
            self.try_it.set_available(False, "" if classifier else
                                      "Train (or open) a classifier, then type a text here.")
        self.chat_button.setEnabled(chat)
