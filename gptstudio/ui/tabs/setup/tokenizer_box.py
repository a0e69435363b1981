"""The Setup tab's tokenizer box: characters, a BPE trained here, or tiktoken's encodings.

BPE training runs in the Session's background worker; this box shows its progress (merge count,
the newest token, compression) and a Cancel button. tiktoken encodings that cannot be loaded on
this machine (offline and not cached) are listed but disabled, with the engine's reason.
Left out: tokenizing anything itself beyond a short sample for the compression figure.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton, QSpinBox,
    QVBoxLayout, QWidget,
)

from gptstudio.core.errors import GPTStudioError
from gptstudio.core.tokenizers import MergeEvent, Tokenizer, parse_tokenizer_spec
from gptstudio.core.tokenizers.pieces import readable
from gptstudio.ui.theme import plot_theme
from gptstudio.ui.widgets.form import ErrorLabel, FormGrid

LOAD_FILE = "action:file"
TIKTOKEN_NAMES = ("gpt2", "cl100k_base", "o200k_base")  # the named encodings offered
EXAMPLE_CHARS = 160


def tokens_html(tokenizer: Tokenizer, text: str) -> str:
    """The tokens of `text` as rich text, each piece on its own alternating background.

    A token holding part of a multi-byte character shows its loose bytes in hex (never "�")."""
    theme = plot_theme()
    colors, muted = theme.token_colors, theme.muted
    spans = []
    for i, token_id in enumerate(tokenizer.encode(text, allowed_special="all")):
        piece = html.escape(readable(tokenizer.token_bytes(token_id)))
        # Loose bytes of a character split over tokens: hex, set apart from the text.
        piece = piece.replace("⟨", f'<span style="color:{muted}">⟨').replace("⟩", "⟩</span>")
        piece = piece.replace(" ", "&nbsp;").replace("\n", "↵")
        spans.append(f'<span style="background-color:{colors[i % 2]}">{piece}</span>')
    # Zero-width spaces between pieces let the line wrap (the pieces' spaces are non-breaking).
    return f'<span style="font-family:monospace">{"&#8203;".join(spans)}</span>'


class TokenizerBox(QGroupBox):
    """Emits `chosen(spec)`, `train_requested(vocab, pattern)`, `cancel_requested`.

    A spec is core's tokenizer spec: "char", "bpe:512:gpt2", "gpt2", or a file path."""

    chosen = Signal(str)
    train_requested = Signal(int, str)
    cancel_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Tokenizer", parent)
        self.selector = QComboBox()
        self.selector.setObjectName("tokenizerSelector")
        self.selector.addItem("Characters (one token per character)", "char")
        self.selector.addItem("BPE, trained here on the corpus", "bpe")
        self.unavailable: dict[str, str] = {}
        model = self.selector.model()
        assert isinstance(model, QStandardItemModel)
        for name in TIKTOKEN_NAMES:
            self.selector.addItem(f"tiktoken: {name}", name)
            item = model.item(self.selector.count() - 1)
            item.setEnabled(False)  # until the Session has checked that it can be loaded
            item.setToolTip("Checking whether this encoding can be loaded…")
        self.selector.addItem("Load a tokenizer or .tiktoken file…", LOAD_FILE)
        self.reason = QLabel()
        self.reason.setObjectName("tiktokenReason")
        self.reason.setWordWrap(True)

        self.vocab = QSpinBox()
        self.vocab.setRange(257, 200_000)
        self.vocab.setValue(512)
        self.vocab.setGroupSeparatorShown(True)
        self.pattern = QComboBox()
        self.pattern.addItem("GPT-2 split pattern", "gpt2")
        self.pattern.addItem("GPT-4 (cl100k) split pattern", "gpt4")
        self.train = QPushButton("Train BPE")
        self.train.setObjectName("trainTokenizerButton")
        self.progress = QProgressBar()
        self.progress.setObjectName("tokenizerProgress")
        self.cancel = QPushButton("Cancel")
        self.bpe_panel = QWidget()
        form = FormGrid()
        form.add_field("vocab", "Vocabulary size", self.vocab,
                       "256 byte tokens + merges + <|endoftext|>.")
        form.add_field("pattern", "Split pattern", self.pattern,
                       "How text is cut into words before merging (never across words).")
        buttons = QHBoxLayout()
        buttons.addWidget(self.train)
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.cancel)
        panel = QVBoxLayout(self.bpe_panel)
        panel.setContentsMargins(0, 0, 0, 0)
        panel.addLayout(form)
        panel.addLayout(buttons)

        self.info = QLabel("No tokenizer yet.")
        self.info.setObjectName("tokenizerInfo")
        self.info.setWordWrap(True)
        self.example = QLabel()
        self.example.setObjectName("tokenizerExample")
        self.example.setWordWrap(True)
        self.example.setTextFormat(Qt.TextFormat.RichText)
        self.error = ErrorLabel()
        self.error.setObjectName("tokenizerError")

        layout = QVBoxLayout(self)
        layout.addWidget(self.selector)
        layout.addWidget(self.reason)
        layout.addWidget(self.bpe_panel)
        layout.addWidget(self.info)
        layout.addWidget(self.example)
        layout.addWidget(self.error)
        layout.addStretch(1)
        self._set_training(False)
        self._update_panels()

        self.selector.activated.connect(self._on_selector_activated)
        self.train.clicked.connect(self._on_train_clicked)
        self.cancel.clicked.connect(self.cancel_requested)

    @Slot(object)
    def on_tiktoken_statuses(self, statuses: dict[str, tuple[bool, str]]) -> None:
        """Enable the encodings that can be loaded here; disable the others, saying why."""
        model = self.selector.model()
        assert isinstance(model, QStandardItemModel)
        for name, (ok, reason) in statuses.items():
            index = self.selector.findData(name)
            if index < 0:
                continue
            item = model.item(index)
            item.setEnabled(ok)
            item.setToolTip(reason)
            if ok:
                self.unavailable.pop(name, None)
            else:
                self.unavailable[name] = reason
        self._update_panels()

    # -- state ---------------------------------------------------------------------------------
    def spec(self) -> str:
        """The tokenizer chosen, as a spec (a BPE's from the vocabulary and pattern fields)."""
        data = str(self.selector.currentData())
        if data == "bpe":
            return f"bpe:{self.vocab.value()}:{self.pattern.currentData()}"
        return data

    def select_spec(self, spec: str, *, run_tokenizer: bool = False) -> None:
        """Show `spec` in the selector (adding an item for a file or an opened run's own)."""
        kind = parse_tokenizer_spec(spec)
        data = "bpe" if kind.kind == "bpe" else spec
        index = self.selector.findData(data)
        if index < 0 and kind.kind == "file":
            index = self.selector.findData(LOAD_FILE)
            label = "The opened run's tokenizer" if run_tokenizer else f"File: {Path(spec).name}"
            self.selector.insertItem(index, label, data)
            self.selector.setItemData(index, spec, Qt.ItemDataRole.ToolTipRole)
        if index >= 0:
            self.selector.setCurrentIndex(index)
        if kind.kind == "bpe":
            self.vocab.setValue(kind.vocab_size)
            self.pattern.setCurrentIndex(max(0, self.pattern.findData(kind.pattern)))
        self._update_panels()

    def state(self) -> dict[str, Any]:
        """What is remembered between sessions: characters, or a BPE's size and pattern."""
        kind = str(self.selector.currentData())
        return {"kind": kind if kind in ("char", "bpe") else "char",
                "vocab_size": self.vocab.value(), "pattern": str(self.pattern.currentData())}

    def restore(self, state: dict[str, Any]) -> str | None:
        """Show a remembered `state()`; returns its spec (None if it is not one)."""
        if state.get("kind") == "char":
            spec = "char"
        elif state.get("kind") == "bpe":
            spec = f"bpe:{int(state.get('vocab_size', 512))}:{state.get('pattern', 'gpt2')}"
        else:
            return None
        try:
            self.select_spec(spec)
        except GPTStudioError:  # a hand-edited settings file
            return None
        return spec

    def _update_panels(self) -> None:
        kind = str(self.selector.currentData())
        self.bpe_panel.setVisible(kind == "bpe")
        if self.unavailable:
            reasons = "; ".join(f"{n}: {r}" for n, r in self.unavailable.items())
            first = next(iter(self.unavailable.values()))
            same = all(r == first for r in self.unavailable.values())
            names = ", ".join(self.unavailable)
            self.reason.setText(f"tiktoken {names} unavailable: {first}" if same
                                else f"Unavailable: {reasons}")
        self.reason.setVisible(bool(self.unavailable) and kind in TIKTOKEN_NAMES)

    def _set_training(self, training: bool) -> None:
        self.train.setVisible(True)
        self.progress.setVisible(training)
        self.cancel.setVisible(training)
        self.train.setEnabled(not training)

    # -- slots ---------------------------------------------------------------------------------
    @Slot(int)
    def _on_selector_activated(self, index: int) -> None:
        kind = str(self.selector.itemData(index))
        self._update_panels()
        if kind == LOAD_FILE:
            path, _ = QFileDialog.getOpenFileName(
                self, "Load a tokenizer", "", "Tokenizers (*.json *.tiktoken);;All files (*)")
            if path:
                self.chosen.emit(path)
            return
        self.chosen.emit(self.spec())

    @Slot()
    def _on_train_clicked(self) -> None:
        self.train_requested.emit(self.vocab.value(), str(self.pattern.currentData()))

    @Slot(int)
    def on_training(self, vocab_size: int) -> None:
        self.error.show_error(None)
        self.progress.setRange(0, max(1, vocab_size - 257))
        self.progress.setValue(0)
        self.progress.setFormat("Counting words…")
        self._set_training(True)

    @Slot(str)
    def on_loading(self, label: str) -> None:
        self.error.show_error(None)
        self.progress.setRange(0, 0)
        self.progress.setFormat(label)
        self._set_training(True)
        self.bpe_panel.setVisible(True)
        self.train.setVisible(False)

    @Slot(object)
    def on_progress(self, event: MergeEvent) -> None:
        self.progress.setValue(event.index + 1)
        piece = event.token_bytes.decode("utf-8", errors="replace")
        self.progress.setFormat(f"merge {event.index + 1:,}/{self.progress.maximum():,}: "
                                f"{piece!r} · {event.compression:.2f} bytes/token")

    def show_tokenizer(self, tokenizer: Tokenizer | None, corpus_sample: str = "") -> None:
        self._set_training(False)
        self._update_panels()
        self.example.setText("")
        if tokenizer is None:
            needs = self.spec().startswith("bpe:")
            self.info.setText("Press “Train BPE” to learn the merges from the corpus."
                              if needs else "No tokenizer yet.")
            return
        self.error.show_error(None)
        text = f"<b>{tokenizer.name}</b> · {tokenizer.vocab_size:,} tokens"
        if corpus_sample:
            # The corpus joins documents with <|endoftext|>: read it as the special token.
            ids = tokenizer.encode(corpus_sample, allowed_special="all")
            bpt = len(corpus_sample.encode("utf-8")) / max(1, len(ids))
            text += f" · {bpt:.2f} bytes per token on this corpus"
            self.example.setText("How the corpus begins, token by token:<br>"
                                 + tokens_html(tokenizer, corpus_sample[:EXAMPLE_CHARS]))
        self.info.setText(text)

    @Slot(str)
    def on_failed(self, message: str) -> None:
        self._set_training(False)
        self._update_panels()
        self.error.show_error(message or None)
