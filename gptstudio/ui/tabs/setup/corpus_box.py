"""The Setup tab's corpus box: pick the text to learn from, see its size and a preview.

Choices: the bundled fables (preselected), the synthetic tasks, Python source on this machine,
a known public corpus to download (with a progress bar), or any file/folder. Loading happens in
the Session's background task; this box only asks and shows. Left out: reading files.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar,
    QPushButton, QVBoxLayout, QWidget,
)

from gptstudio.core.corpora import BUILTIN_CORPORA, DEFAULT_CORPUS, KNOWN_DOWNLOADS, Corpus, \
    DownloadProgress, ReadProgress
from gptstudio.ui.widgets.form import ErrorLabel

OPEN_FILE, OPEN_FOLDER = "action:file", "action:folder"


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


class CorpusBox(QGroupBox):
    """Emits `chosen(spec)` when the user picks a corpus; shows the Session's result."""

    chosen = Signal(str)
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Corpus", parent)
        self.selector = QComboBox()
        self.selector.setObjectName("corpusSelector")
        self.selector.setMinimumContentsLength(24)
        self._fill_selector()
        self.open_file = QPushButton("Open file…")
        self.open_folder = QPushButton("Open folder…")
        self.description = QLabel()
        self.description.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setObjectName("corpusProgress")
        self.cancel = QPushButton("Cancel")
        self.info = QLabel("No corpus yet.")
        self.info.setObjectName("corpusInfo")
        self.info.setWordWrap(True)
        self.error = ErrorLabel()
        self.error.setObjectName("corpusError")
        self.preview = QPlainTextEdit()
        self.preview.setObjectName("corpusPreview")
        self.preview.setReadOnly(True)
        self.preview.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.preview.setPlaceholderText("A preview of the text appears here.")
        self.preview.setMinimumHeight(110)

        row = QHBoxLayout()
        row.addWidget(self.selector, 1)
        row.addWidget(self.open_file)
        row.addWidget(self.open_folder)
        busy = QHBoxLayout()
        busy.addWidget(self.progress, 1)
        busy.addWidget(self.cancel)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.description)
        layout.addLayout(busy)
        layout.addWidget(self.info)
        layout.addWidget(self.error)
        layout.addWidget(self.preview, 1)
        self._set_busy(False)

        self.selector.activated.connect(self._on_selector_activated)
        self.selector.currentIndexChanged.connect(self._on_selector_highlighted)
        self.open_file.clicked.connect(self.choose_file)
        self.open_folder.clicked.connect(self.choose_folder)
        self.cancel.clicked.connect(self.cancel_requested)
        self._on_selector_highlighted()

    def _fill_selector(self) -> None:
        s = self.selector
        for name, info in BUILTIN_CORPORA.items():
            if info.kind == "prose":
                label = f"{name.capitalize()} (bundled)"
            elif info.kind == "task":
                label = f"Synthetic task: {name}"
            else:
                label = "Python source on this machine"
            s.addItem(label, f"builtin:{name}")
            s.setItemData(s.count() - 1, info.description, 3)  # 3 = Qt.ToolTipRole
        s.insertSeparator(s.count())
        for key, known in KNOWN_DOWNLOADS.items():
            size = f", {human_size(known.size)}" if known.size else ""
            s.addItem(f"Download: {known.name}{size}", f"download:{key}")
        s.insertSeparator(s.count())
        s.addItem("Open a text file…", OPEN_FILE)
        s.addItem("Open a folder of .txt/.md files…", OPEN_FOLDER)
        s.setCurrentIndex(s.findData(f"builtin:{DEFAULT_CORPUS}"))

    # -- choosing ------------------------------------------------------------------------------
    def select_spec(self, spec: str) -> None:
        """Show `spec` as the current choice (adding a path to the list if needed)."""
        index = self.selector.findData(spec)
        if index < 0:
            index = self.selector.findData(OPEN_FILE) - 1  # before the last separator
            self.selector.insertItem(index, f"File: {Path(spec).name}", spec)
            self.selector.setItemData(index, spec, 3)
        self.selector.blockSignals(True)
        self.selector.setCurrentIndex(index)
        self.selector.blockSignals(False)
        self._on_selector_highlighted()

    def current_spec(self) -> str:
        return str(self.selector.currentData())

    @Slot()
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a text file", "",
                                              "Text (*.txt *.md);;All files (*)")
        if path:
            self.chosen.emit(path)

    @Slot()
    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a folder of text files")
        if path:
            self.chosen.emit(path)

    @Slot(int)
    def _on_selector_activated(self, index: int) -> None:
        spec = str(self.selector.itemData(index))
        if spec == OPEN_FILE:
            self.choose_file()
        elif spec == OPEN_FOLDER:
            self.choose_folder()
        else:
            self.chosen.emit(spec)

    @Slot()
    def _on_selector_highlighted(self) -> None:
        spec = self.current_spec()
        name = spec.split(":", 1)[1] if ":" in spec else ""
        if spec.startswith("builtin:") and name in BUILTIN_CORPORA:
            text = BUILTIN_CORPORA[name].description
        elif spec.startswith("download:") and name in KNOWN_DOWNLOADS:
            text = (f"Downloaded once from {KNOWN_DOWNLOADS[name].url.split('/')[2]}, checked "
                    "and cached; later runs work offline.")
        else:
            text = spec if not spec.startswith("action:") else ""
        self.description.setText(text)

    # -- showing the Session's results ---------------------------------------------------------
    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel.setVisible(busy)

    @Slot(str)
    def on_loading(self, label: str) -> None:
        self.error.show_error(None)
        self.progress.setRange(0, 0)  # busy until a download reports its size
        self.progress.setFormat(f"Loading {label}…")
        self.progress.setTextVisible(True)
        self._set_busy(True)

    @Slot(object)
    def on_progress(self, event: DownloadProgress | ReadProgress) -> None:
        total, done = event.total_bytes, event.done_bytes
        # A download, then the file (downloaded or not) is read once to check and measure it.
        verb = "Checking" if isinstance(event, ReadProgress) else "Downloading"
        if total:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * done / total))
            self.progress.setFormat(f"{verb}… {human_size(done)} of {human_size(total)}")
        else:
            self.progress.setFormat(f"{verb}… {human_size(done)}")

    @Slot(object)
    def on_corpus_changed(self, corpus: Corpus) -> None:
        self._set_busy(False)
        self.error.show_error(None)
        files = f" · {len(corpus.paths):,} files" if len(corpus.paths) > 1 else ""
        self.info.setText(
            f"<b>{corpus.name}</b>{files} · {human_size(corpus.n_bytes)} · "
            f"{corpus.n_chars:,} characters"
        )
        self.preview.setPlainText(corpus.preview(3000))

    @Slot(str)
    def on_failed(self, message: str) -> None:
        self._set_busy(False)
        self.error.show_error(message or None)
