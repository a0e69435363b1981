"""Which tokenizers the tab can show, and the pickers that choose among them.

`TokenizerChoices` holds the tokenizers the tab knows, by key: "char" (the corpus's
characters), "setup" (the tokenizer the Setup tab chose for the next run), "trained" (a BPE
trained in this tab), a loaded file (its path), and tiktoken's named encodings (loaded when
first picked; disabled, with the engine's reason, when they are not cached here). Every
`ChoiceBox` (a combo with an error line under it) lists the same entries; picking one that is
not loaded yet asks for it (`load_requested`), and a failed load is shown beside the box that
asked, which goes back to its previous choice. Left out: loading itself (the tab's service).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QComboBox, QFileDialog, QVBoxLayout, QWidget

from gptstudio.core.tokenizers import APP_ENCODINGS, Tokenizer
from gptstudio.ui.widgets.form import ErrorLabel

CHAR, SETUP, TRAINED, NONE = "char", "setup", "trained", ""
LOAD = "action:load"
FIXED_LABELS = {CHAR: "Characters (the corpus's)", SETUP: "Setup's tokenizer",
                TRAINED: "BPE trained here"}


class ChoiceBox(QWidget):
    """A tokenizer picker: `chosen(key)` when the user picks a tokenizer that is ready."""

    chosen = Signal(str)

    def __init__(self, choices: TokenizerChoices, object_name: str, *,
                 allow_none: bool = False, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.choices, self.allow_none = choices, allow_none
        self.combo = QComboBox()
        self.combo.setObjectName(object_name)
        self.combo.setMinimumContentsLength(12)
        self.combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.error = ErrorLabel()
        self.error.setObjectName(f"{object_name}Error")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.combo)
        layout.addWidget(self.error)
        self._key = NONE if allow_none else CHAR
        self._pending: str | None = None  # asked to load; shown once it has
        self.combo.activated.connect(self._on_activated)
        choices.register(self)

    def key(self) -> str:
        return self._key

    def tokenizer(self) -> Tokenizer | None:
        return self.choices.tokenizers.get(self._key)

    def select(self, key: str) -> None:
        """Choose `key` (loading it first if needed); `chosen` follows once it is ready."""
        self.error.show_error(None)
        if key == NONE or key in self.choices.tokenizers:
            self._key, self._pending = key, None
            self.refresh()
            self.chosen.emit(key)
        else:
            self._pending = key
            self.choices.load_requested.emit(key)

    def choose_file(self, path: str) -> None:
        """What picking a file in the dialog does."""
        self.select(str(path))

    def refresh(self) -> None:
        """List the current entries, the chosen one selected."""
        combo, choices = self.combo, self.choices
        combo.blockSignals(True)
        combo.clear()
        if self.allow_none:
            combo.addItem("(none)", NONE)
        for key in choices.keys():
            combo.addItem(choices.label(key), key)
        model = combo.model()
        assert isinstance(model, QStandardItemModel)
        for name in APP_ENCODINGS:
            index = combo.findData(name)
            reason = choices.unavailable.get(name)
            item = model.item(index)
            item.setEnabled(reason is None and name in choices.statuses_known)
            item.setToolTip(reason or ("Loaded from tiktoken's cache when chosen"
                                       if name in choices.statuses_known
                                       else "Checking whether this encoding can be loaded…"))
        combo.addItem("Load a tokenizer or .tiktoken file…", LOAD)
        combo.setCurrentIndex(max(0, combo.findData(self._key)))
        combo.blockSignals(False)

    @Slot(int)
    def _on_activated(self, index: int) -> None:
        key = str(self.combo.itemData(index))
        if key == LOAD:
            path, _ = QFileDialog.getOpenFileName(
                self, "Load a tokenizer", "", "Tokenizers (*.json *.tiktoken);;All files (*)")
            self.refresh()  # back to the current choice until the file has loaded
            if path:
                self.choose_file(path)
            return
        self.select(key)

    def on_loaded(self, key: str) -> None:
        if self._pending == key:
            self.select(key)

    def on_load_failed(self, key: str, message: str) -> None:
        if self._pending == key:
            self._pending = None
            self.refresh()
            self.error.show_error(message)


class TokenizerChoices(QObject):
    """The tab's tokenizers by key, and the boxes that pick among them (see the module doc)."""

    load_requested = Signal(str)  # a file path or an encoding name to load in the background

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.tokenizers: dict[str, Tokenizer] = {}
        self.unavailable: dict[str, str] = {}  # named encoding -> why it cannot be loaded
        self.statuses_known: set[str] = set()
        self.files: list[str] = []
        self.boxes: list[ChoiceBox] = []

    def register(self, box: ChoiceBox) -> None:
        self.boxes.append(box)
        box.refresh()

    def keys(self) -> list[str]:
        fixed = [k for k in (CHAR, SETUP, TRAINED) if k in self.tokenizers]
        return fixed + self.files + list(APP_ENCODINGS)

    def label(self, key: str) -> str:
        tokenizer = self.tokenizers.get(key)
        if key in FIXED_LABELS:
            name = f": {tokenizer.name}" if tokenizer is not None and key != CHAR else ""
            return FIXED_LABELS[key] + name
        if key in APP_ENCODINGS:
            return f"tiktoken {key}"
        return f"File: {Path(key).name}"

    def set(self, key: str, tokenizer: Tokenizer | None) -> None:
        """Add, replace or (None) remove a tokenizer; boxes showing it are told."""
        if tokenizer is None:
            self.tokenizers.pop(key, None)
        else:
            self.tokenizers[key] = tokenizer
            if key not in (CHAR, SETUP, TRAINED, *APP_ENCODINGS) and key not in self.files:
                self.files.append(key)
        for box in self.boxes:
            if box.key() == key and tokenizer is None:
                box.select(NONE if box.allow_none else CHAR)
            box.refresh()
            if box.key() == key and tokenizer is not None:
                box.chosen.emit(key)  # the same choice, a new tokenizer: redraw
            box.on_loaded(key)

    def load_failed(self, key: str, message: str) -> None:
        for box in self.boxes:
            box.on_load_failed(key, message)

    def set_statuses(self, statuses: dict[str, tuple[bool, str]]) -> None:
        """Which named encodings can be loaded here (DataService.tiktoken_checked)."""
        for name, (ok, reason) in statuses.items():
            self.statuses_known.add(name)
            if ok:
                self.unavailable.pop(name, None)
            else:
                self.unavailable[name] = reason
        for box in self.boxes:
            box.refresh()
