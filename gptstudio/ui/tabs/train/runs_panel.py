"""The list of earlier runs: tick one to overlay its curves, double-click to open it.

Runs are the folders in the runs folder (newest first). Ticking a run reads its `metrics.jsonl`
through the engine and hands the curves to the loss plot as an overlay — e.g. the LSTM baseline
against the GPT, or two tokenizers compared in bits per byte. Left out: drawing.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QHBoxLayout, QLabel, QListWidget, QListWidgetItem, QPushButton, QVBoxLayout, QWidget,
)

from gptstudio.core.errors import GPTStudioError
from gptstudio.ui.services.run_files import list_runs, read_history

PATH_ROLE = Qt.ItemDataRole.UserRole


class RunsPanel(QWidget):
    overlay_added = Signal(str, object)  # run name, RunHistory
    overlay_removed = Signal(str)
    open_requested = Signal(str)  # a run folder to open (and resume)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.root: Path | None = None
        self.current: Path | None = None  # the run shown as "current" is not offered as overlay
        self.list = QListWidget()
        self.list.setObjectName("runsList")
        self.list.setToolTip("Tick a run to draw its curves with the current one; "
                             "double-click to open it.")
        self.refresh_button = QPushButton("Refresh")
        self.open_button = QPushButton("Open")
        self.open_button.setToolTip("Open the selected run: its curves, settings, and resume.")
        title = QHBoxLayout()
        heading = QLabel("<b>Earlier runs</b>")
        heading.setToolTip("Tick runs to draw their curves with the current one.")
        title.addWidget(heading, 1)
        title.addWidget(self.open_button)
        title.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(title)
        layout.addWidget(self.list, 1)
        self.list.itemChanged.connect(self._on_item_changed)
        self.list.itemDoubleClicked.connect(self._on_item_double_clicked)
        self.refresh_button.clicked.connect(self.refresh)
        self.open_button.clicked.connect(self._on_open_clicked)

    def set_root(self, root: Path) -> None:
        self.root = Path(root)
        self.refresh()

    def set_current(self, path: Path | None) -> None:
        self.current = Path(path) if path is not None else None
        self.refresh()

    @Slot()
    def refresh(self) -> None:
        """Re-list the runs folder, keeping ticks."""
        ticked = set(self.ticked())
        self.list.blockSignals(True)
        self.list.clear()
        for path in list_runs(self.root) if self.root else []:
            if self.current is not None and path == self.current:
                continue
            item = QListWidgetItem(path.name)
            item.setData(PATH_ROLE, str(path))
            item.setToolTip(str(path))
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if str(path) in ticked
                               else Qt.CheckState.Unchecked)
            self.list.addItem(item)
        self.list.blockSignals(False)
        for name in ticked - {str(p) for p in self._all_paths()}:
            self.overlay_removed.emit(Path(name).name)

    def ticked(self) -> list[str]:
        return [str(self.list.item(i).data(PATH_ROLE)) for i in range(self.list.count())
                if self.list.item(i).checkState() == Qt.CheckState.Checked]

    def set_ticked(self, path: str | Path, ticked: bool) -> None:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(PATH_ROLE) == str(path):
                item.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)

    def _all_paths(self) -> list[str]:
        return [str(self.list.item(i).data(PATH_ROLE)) for i in range(self.list.count())]

    @Slot(QListWidgetItem)
    def _on_item_changed(self, item: QListWidgetItem) -> None:
        path = Path(item.data(PATH_ROLE))
        if item.checkState() != Qt.CheckState.Checked:
            self.overlay_removed.emit(path.name)
            return
        try:
            history = read_history(path)
        except (GPTStudioError, OSError) as exc:
            item.setToolTip(f"Cannot read this run: {exc}")
            return
        self.overlay_added.emit(path.name, history)

    @Slot(QListWidgetItem)
    def _on_item_double_clicked(self, item: QListWidgetItem) -> None:
        self.open_requested.emit(str(item.data(PATH_ROLE)))

    @Slot()
    def _on_open_clicked(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self.open_requested.emit(str(item.data(PATH_ROLE)))
