"""The "Text → tokens" page: the token view, its counts, and "Why this token?".

Hovering a token shows its id, bytes, text and BPE rank (in a tooltip and on the line under the
view); clicking it shows, on the right, the merges that built it from bytes up (core's
`lineage.token_lineage`). Left out: the input box and the tokenizer picker (the tab's, shared
by the pages) and tokenizing (jobs.py).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import (
    QGroupBox, QLabel, QSplitter, QTextBrowser, QVBoxLayout, QWidget,
)

from gptstudio.core.errors import GPTStudioError
from gptstudio.core.tokenizers import Tokenizer
from gptstudio.core.tokenizers.lineage import token_lineage
from gptstudio.ui.tabs.tokenizer.describe import hover_text, lineage_html, stats_text
from gptstudio.ui.tabs.tokenizer.jobs import ViewTokens
from gptstudio.ui.tabs.tokenizer.token_view import TokenView
from gptstudio.ui.widgets.form import ErrorLabel

LINEAGE_HINT = ("Click a token to see the merges that built it, from its bytes up. "
                "Hover a token for its id, bytes and rank.")


def wire_view(view: TokenView, result: ViewTokens) -> None:
    """Show `result` in `view`, with hovers that describe its tokens."""
    tokenizer, spans = result.tokenizer, result.spans
    view.set_tokens(result.display, spans, result.slots, result.shades)
    if tokenizer is not None and spans is not None:
        view.describe = lambda index, split: hover_text(tokenizer, spans, index, split)
    else:
        view.describe = None


class TextPage(QWidget):
    """See the module docstring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.view = TokenView("tokenView")
        self.stats = QLabel()
        self.stats.setObjectName("tokenStats")
        self.stats.setWordWrap(True)
        self.detail = QLabel(LINEAGE_HINT)
        self.detail.setObjectName("tokenDetail")
        self.detail.setWordWrap(True)
        self.detail.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error = ErrorLabel()
        self.error.setObjectName("tokenViewError")
        self.lineage = QTextBrowser()
        self.lineage.setObjectName("tokenLineage")
        self.lineage.setPlaceholderText(LINEAGE_HINT)
        self.tokenizer: Tokenizer | None = None
        self.result: ViewTokens | None = None
        self.lineage_id: int | None = None  # the token "Why this token?" shows

        left = QWidget()
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.stats)
        column.addWidget(self.error)
        column.addWidget(self.view, 1)
        column.addWidget(self.detail)
        why = QGroupBox("Why this token?")
        box = QVBoxLayout(why)
        box.addWidget(self.lineage)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(why)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(splitter)
        self.view.token_hovered.connect(self._on_hovered)
        self.view.token_clicked.connect(self.show_lineage)

    def show_result(self, result: ViewTokens) -> None:
        self.result, self.tokenizer = result, result.tokenizer
        self.error.show_error(result.error)
        if result.error:
            self.view.clear_tokens()
            self.stats.setText("")
            return
        wire_view(self.view, result)
        shown = result.spans.n_chars if result.spans is not None else None
        self.stats.setText(stats_text(result.stats, shown_chars=shown))

    @Slot(int)
    def _on_hovered(self, index: int) -> None:
        if index >= 0 and self.view.last_hover:
            self.detail.setText(self.view.last_hover.replace("\n", " · "))

    @Slot(int)
    def show_lineage(self, index: int) -> None:
        """"Why this token?" for token `index` of the view."""
        spans, tokenizer = self.view.spans, self.tokenizer
        if spans is None or tokenizer is None or not 0 <= index < len(spans):
            return
        try:
            lineage = token_lineage(tokenizer, int(spans.ids[index]))
        except GPTStudioError as exc:
            self.lineage.setPlainText(str(exc))
            return
        self.lineage.setHtml(lineage_html(tokenizer, lineage))
        self.lineage_id = lineage.id
