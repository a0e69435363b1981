"""The "Compare" page (`tokenizerCompare`): the same text under up to three tokenizers.

Each column has its own picker (characters, a BPE of Setup's, one trained here or a saved file,
tiktoken's encodings when they can be loaded here, or a `.tiktoken` file), a token view and its
counts with the vocabulary size, so that a larger vocabulary's fewer, longer tokens are there
to see. Left out: tokenizing (jobs.py) and the pickers' entries (choices.py).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGridLayout, QLabel, QWidget

from gptstudio.ui.tabs.tokenizer.choices import ChoiceBox, TokenizerChoices
from gptstudio.ui.tabs.tokenizer.describe import stats_text
from gptstudio.ui.tabs.tokenizer.jobs import ViewTokens
from gptstudio.ui.tabs.tokenizer.text_page import wire_view
from gptstudio.ui.tabs.tokenizer.token_view import TokenView
from gptstudio.ui.widgets.form import ErrorLabel

N_COLUMNS = 3


class CompareColumn:
    """One column's widgets: picker, counts, error, view."""

    def __init__(self, choices: TokenizerChoices, number: int) -> None:
        self.key = f"compare{number}"
        self.choice = ChoiceBox(choices, f"compareChoice{number}", allow_none=True)
        self.stats = QLabel()
        self.stats.setObjectName(f"compareStats{number}")
        self.stats.setWordWrap(True)
        self.stats.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.error = ErrorLabel()
        self.error.setObjectName(f"compareError{number}")
        self.view = TokenView(f"compareView{number}")

    def show_result(self, result: ViewTokens | None) -> None:
        if result is None or result.tokenizer is None:
            self.view.clear_tokens()
            self.error.show_error(None)
            self.stats.setText("Choose a tokenizer to compare.")
            return
        self.error.show_error(result.error)
        if result.error:
            self.view.clear_tokens()
            self.stats.setText(f"{result.tokenizer.vocab_size:,} ids in the vocabulary")
            return
        wire_view(self.view, result)
        self.stats.setText(f"<b>{result.tokenizer.vocab_size:,}</b> ids in the vocabulary<br>"
                           + stats_text(result.stats).replace(" · ", "<br>"))


class ComparePage(QWidget):
    """See the module docstring."""

    def __init__(self, choices: TokenizerChoices, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tokenizerCompare")
        self.columns = [CompareColumn(choices, n + 1) for n in range(N_COLUMNS)]
        grid = QGridLayout(self)
        grid.setContentsMargins(4, 4, 4, 4)
        for n, column in enumerate(self.columns):
            grid.addWidget(column.choice, 0, n)
            grid.addWidget(column.stats, 1, n)
            grid.addWidget(column.error, 2, n)
            grid.addWidget(column.view, 3, n)
            grid.setColumnStretch(n, 1)
        grid.setRowStretch(3, 1)

    def column(self, key: str) -> CompareColumn | None:
        return next((c for c in self.columns if c.key == key), None)
