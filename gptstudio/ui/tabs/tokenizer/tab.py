"""The Tokenizer tab: see text become tokens, compare tokenizers, watch BPE learn, browse the
vocabulary and the windows the model trains on (book chapter 2).

The text typed or pasted into `tokenizerInput` feeds every page. Each token view states what it
wants (a tokenizer, the text, whether specials count); after a pause in typing (longer for long
texts) the views whose wish changed are tokenized together in one background job of the tab's
`TokenizerLab`, and each draws its answer. Heavier work (training a BPE, tokenizing the corpus,
listing a vocabulary, a full-pass evaluation) runs there too, only for the page in sight.
Cross-tab: the Setup tab's tokenizer comes from the data service, and a BPE saved here becomes
the next run's through `DataService.set_tokenizer`. Left out: the pages' widgets (their modules).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer, Slot
from PySide6.QtWidgets import (
    QCheckBox, QHBoxLayout, QLabel, QPushButton, QSplitter, QTabWidget,
    QVBoxLayout, QWidget,
)

from gptstudio.core.corpora import Corpus
from gptstudio.core.errors import GPTStudioError
from gptstudio.core.tokenizers import ENDOFTEXT, BPETokenizer, CharTokenizer, Tokenizer
from gptstudio.core.tokenizers.lineage import with_first_merges
from gptstudio.ui.services.tokenizers import Loaded, TokenizerLab
from gptstudio.ui.session import Session
from gptstudio.ui.tabs.base import Tab
from gptstudio.ui.tabs.tokenizer.bpe_page import BpePage
from gptstudio.ui.tabs.tokenizer.chunked import PasteBox
from gptstudio.ui.tabs.tokenizer.choices import (
    CHAR, NONE, SETUP, TRAINED, ChoiceBox, TokenizerChoices,
)
from gptstudio.ui.tabs.tokenizer.compare_page import ComparePage
from gptstudio.ui.tabs.tokenizer.corpus_prefix import corpus_prefix
from gptstudio.ui.tabs.tokenizer.jobs import Explained, ViewRequest, explain_views
from gptstudio.ui.tabs.tokenizer.lab_wiring import LabWiring
from gptstudio.ui.tabs.tokenizer.text_page import TextPage
from gptstudio.ui.tabs.tokenizer.token_view import drawable
from gptstudio.ui.tabs.tokenizer.vocab_page import VocabPage
from gptstudio.ui.tabs.tokenizer.windows_page import WindowsPage
from gptstudio.ui.theme import PlotTheme
from gptstudio.ui.widgets.form import ErrorLabel
from gptstudio.ui.widgets.learn_panel import LearnPanel

PASSAGE_CHARS = 1_200
TEXT, COMPARE, BPE, VOCAB, WINDOWS = range(5)


def debounce_ms(n_chars: int) -> int:
    """How long typing must pause before re-tokenizing: at once for short texts, longer for
    long ones (each round reads the whole text out of the editor)."""
    if n_chars < 20_000:
        return 30
    return 120 if n_chars < 200_000 else 300


class TokenizerTab(QWidget, Tab):
    """See the module docstring."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.lab = TokenizerLab(self)
        self.choices = TokenizerChoices(self)
        self.choice = ChoiceBox(self.choices, "tokenizerChoice")
        self.whitespace = QCheckBox("Show whitespace")
        self.whitespace.setObjectName("showWhitespace")
        self.whitespace.setChecked(True)
        self.specials = QCheckBox("<|endoftext|> as one token")
        self.specials.setObjectName("specialTokensCheck")
        self.specials.setChecked(True)
        self.specials.setToolTip("Ticked: as in the corpus, where it separates documents. "
                                 "Unticked: as plain characters.")
        self.passage = QPushButton("Corpus passage")
        self.passage.setToolTip("Replace the text by a passage of the current corpus (from its "
                                "first million characters)")
        self.passage.setObjectName("corpusPassageButton")
        self.input = PasteBox()
        self.input.setObjectName("tokenizerInput")
        self.input.setPlaceholderText("Type or paste text here; every page below tokenizes it.")
        self.note = QLabel()
        self.note.setObjectName("tokenizerInputNote")
        self.note.setWordWrap(True)
        self.note.hide()
        self.error = ErrorLabel()
        self.error.setObjectName("tokenizerTabError")

        self.text_page = TextPage()
        self.compare_page = ComparePage(self.choices)
        self.bpe_page = BpePage()
        self.vocab_page = VocabPage()
        self.windows_page = WindowsPage()
        self.pages = QTabWidget()
        self.pages.setObjectName("tokenizerPages")
        for page, title in ((self.text_page, "Text → tokens"), (self.compare_page, "Compare"),
                            (self.bpe_page, "Watch BPE learn"), (self.vocab_page, "Vocabulary"),
                            (self.windows_page, "Windows")):
            self.pages.addTab(page, title)
        self.learn = LearnPanel("tokenizer")
        self._layout()

        self._shown: dict[str, object] = {}  # view key -> the signature it shows
        self._started = False  # whether the text was filled in at the first corpus
        self._text, self._text_stale = "", False  # the input's text as last read
        self._noted: str | None = None  # the text the note beside the input describes
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.retokenize)
        self.wiring = LabWiring(self)
        self.input.textChanged.connect(self._on_text_changed)
        self.input.paste_progress.connect(self._on_paste_progress)
        for signal in (self.choice.chosen, *(c.choice.chosen for c in self.compare_page.columns)):
            signal.connect(self._on_choice)
        self.whitespace.toggled.connect(self._on_whitespace)
        self.specials.toggled.connect(self.schedule)
        self.passage.clicked.connect(self.take_passage)
        self.pages.currentChanged.connect(self._on_page)
        self.bpe_page.slider_moved.connect(self.schedule)
        data = session.data
        data.corpus_changed.connect(self._on_corpus_changed)
        data.tokenizer_changed.connect(self._on_setup_tokenizer)
        data.tiktoken_checked.connect(self._on_statuses)
        session.closing.connect(self._on_closing)
        if data.tiktoken_statuses is not None:
            self._on_statuses(data.tiktoken_statuses)
        if data.corpus is not None:
            self._on_corpus_changed(data.corpus)
        self._on_setup_tokenizer(data.tokenizer)
        self._on_whitespace(self.whitespace.isChecked())

    def _layout(self) -> None:
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Tokenizer"))
        bar.addWidget(self.choice, 2)
        bar.addWidget(self.passage)
        bar.addStretch(1)
        options = QHBoxLayout()
        options.addWidget(self.whitespace)
        options.addWidget(self.specials)
        options.addWidget(self.note, 10)
        options.addStretch(1)
        top = QWidget()
        column = QVBoxLayout(top)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.input, 1)
        column.addLayout(options)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(top)
        split.addWidget(self.pages)
        split.setStretchFactor(1, 1)
        split.setSizes([140, 600])
        main = QWidget()
        column = QVBoxLayout(main)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(bar)
        column.addWidget(self.error)
        column.addWidget(split, 1)
        side = QSplitter(Qt.Orientation.Horizontal)
        side.addWidget(main)
        side.addWidget(self.learn)
        side.setStretchFactor(0, 1)
        side.setSizes([960, 300])
        layout = QHBoxLayout(self)
        layout.addWidget(side)

    def apply_theme(self, theme: PlotTheme) -> None:
        super().apply_theme(theme)
        self.bpe_page.apply_theme(theme)
        for view in self._views().values():
            view.apply_theme()

    # -- what each view wants ------------------------------------------------------------------
    def _views(self) -> dict[str, Any]:
        views = {"main": self.text_page.view, "merges": self.bpe_page.view}
        views.update({c.key: c.view for c in self.compare_page.columns})
        return views

    def wanted(self, text: str, allowed: str) -> dict[str, tuple[object, ViewRequest]]:
        """The views in sight and what each should show: key -> (signature, request)."""
        page = self.pages.currentIndex()
        boxes: list[tuple[str, ChoiceBox]] = []
        if page == TEXT:
            boxes.append(("main", self.choice))
        elif page == COMPARE:
            boxes.extend((c.key, c.choice) for c in self.compare_page.columns)
        out = {}
        for key, box in boxes:
            tokenizer = box.tokenizer()
            signature = (box.key(), id(tokenizer), allowed, text)
            out[key] = (signature, ViewRequest(key, text, allowed, tokenizer,
                                               signature=signature))
        trained = self.bpe_page.trained
        if page == BPE and trained is not None:
            n = self.bpe_page.merges_used
            signature = ("merges", id(trained), n, allowed, text)
            out["merges"] = (signature, ViewRequest(
                "merges", text, allowed, build=lambda: with_first_merges(trained, n),
                signature=signature))
        return out

    @Slot()
    def schedule(self, *_: object) -> None:
        """Re-tokenize soon (after the current event: choices, pages, the slider)."""
        self.timer.start(0)

    def text(self) -> str:
        """The input's text (kept by the editor as it is edited; no-break spaces kept)."""
        if self._text_stale:
            self._text, self._text_stale = self.input.text(), False
        return self._text

    @property
    def allowed_special(self) -> str:
        return "all" if self.specials.isChecked() else "none"

    @Slot()
    def retokenize(self) -> None:
        """Ask the background for every view in sight whose text or tokenizer changed."""
        text, allowed = self.text(), self.allowed_special
        requests = [request for key, (signature, request) in self.wanted(text, allowed).items()
                    if self._shown.get(key) != signature]
        if requests or text is not self._noted:
            self.lab.explain(lambda: explain_views(text, requests))

    def show_results(self, explained: Explained) -> None:
        """Draw a background round's answers (the views that still want them)."""
        if self._text_stale:
            return  # typed since this round began: the next round brings the answers
        text = self.text()
        if explained.text is text:
            self._noted = text
            self._show_note(explained)
        wanted = self.wanted(text, self.allowed_special)
        for key, result in explained.views.items():
            signature = result.request.signature
            if key not in wanted or wanted[key][0] != signature:
                continue  # the text or the choice moved on: the next round brings it
            self._shown[key] = signature
            if key == "main":
                self.text_page.show_result(result)
            elif key == "merges":
                self.bpe_page.show_result(result)
            else:
                column = self.compare_page.column(key)
                if column is not None:
                    column.show_result(result if result.request.tokenizer else None)

    def view_is_current(self, key: str) -> bool:
        """Whether view `key` is in sight and shows what it should now (nothing pending)."""
        if self.timer.isActive() or self._text_stale or self.input.pasting:
            return False
        if key in self._views() and self._views()[key].busy:
            return False
        wanted = self.wanted(self.text(), self.allowed_special)
        return key in wanted and self._shown.get(key) == wanted[key][0]

    def _show_note(self, explained: Explained) -> None:
        notes = []
        if explained.has_special:
            notes.append(f"The text holds {ENDOFTEXT}: " + (
                "each is one special token, as between the corpus's documents."
                if self.allowed_special == "all"
                else "read as plain characters (“<|endoftext|> as one token” is off)."))
        if explained.has_controls:
            notes.append(f"Control characters are drawn as {drawable('␀')} symbols "
                         f"(hover one for its code).")
        self.note.setText(" ".join(notes))
        self.note.setVisible(bool(notes))

    # -- slots ---------------------------------------------------------------------------------
    @Slot()
    def _on_text_changed(self) -> None:
        self._text_stale = True
        self.timer.start(debounce_ms(self.input.document().characterCount()))

    @Slot(int, int)
    def _on_paste_progress(self, done: int, total: int) -> None:
        self.note.setVisible(True)
        self.note.setText(f"Pasting… {done:,} of {total:,} characters" if done < total
                          else f"Pasted {total:,} characters.")
        if done >= total:
            self._on_text_changed()  # the last slice: re-tokenize after the usual pause

    @Slot(str)
    def _on_choice(self, _key: str) -> None:
        self.error.show_error(None)
        self.schedule()
        self.wiring.page_work(self.pages.currentIndex())

    @Slot(bool)
    def _on_whitespace(self, on: bool) -> None:
        for view in self._views().values():
            view.set_whitespace_visible(on)

    @Slot(int)
    def _on_page(self, index: int) -> None:
        self.schedule()
        self.wiring.page_work(index)

    @Slot()
    def take_passage(self) -> None:
        """Replace the text with a passage of the corpus, starting at a line."""
        corpus = self.session.data.corpus
        if corpus is None:
            self.error.show_error("Choose a corpus first (Setup tab).")
            return
        text, _ = corpus_prefix(corpus)  # never the whole of a big corpus, here on the GUI thread
        start = random.randrange(max(1, len(text) - PASSAGE_CHARS))
        start = text.find("\n", start) + 1 if text.find("\n", start) >= 0 else 0
        self.input.setPlainText(text[start:start + PASSAGE_CHARS])

    @Slot(object)
    def _on_corpus_changed(self, corpus: Corpus) -> None:
        try:
            # The characters of the corpus's first million (all of a smaller one): a big
            # corpus is not read whole on the GUI thread.
            self.choices.set(CHAR, CharTokenizer.from_text(corpus_prefix(corpus)[0]))
        except GPTStudioError as exc:
            self.choices.set(CHAR, None)
            self.error.show_error(str(exc))
        first = self.compare_page.columns[0].choice
        if CHAR in self.choices.tokenizers and first.key() == NONE:
            first.select(CHAR)
        if not self._started:
            self._started = True
            if not self.text():
                self.input.setPlainText(corpus.preview(PASSAGE_CHARS))
        self.wiring.page_work(self.pages.currentIndex())

    @Slot(object)
    def _on_statuses(self, statuses: dict[str, tuple[bool, str]]) -> None:
        """Which named encodings can be loaded here; the third compare column shows GPT-2's
        when it can."""
        self.choices.set_statuses(statuses)
        column = self.compare_page.columns[2]
        if statuses.get("gpt2", (False, ""))[0] and column.choice.key() == NONE:
            column.choice.select("gpt2")

    @Slot(object)
    def _on_setup_tokenizer(self, tokenizer: Tokenizer | None) -> None:
        self.choices.set(SETUP, tokenizer)
        column = self.compare_page.columns[1]
        if tokenizer is not None and column.choice.key() == NONE:
            column.choice.select(SETUP)

    def on_trained(self, tokenizer: BPETokenizer) -> None:
        self.choices.set(TRAINED, tokenizer)
        column = self.compare_page.columns[1]
        if column.choice.key() in (NONE, SETUP):
            column.choice.select(TRAINED)

    def on_loaded(self, loaded: Loaded) -> None:
        self.choices.set(loaded.key, loaded.tokenizer)

    def save_trained(self, path: str | Path, *, use: bool = False) -> bool:
        """Save the BPE trained here to `path`; with `use`, make it the next run's tokenizer."""
        tokenizer = self.bpe_page.trained
        if tokenizer is None:
            self.bpe_page.error.show_error("Train a BPE first.")
            return False
        try:
            tokenizer.save(path)
        except GPTStudioError as exc:
            self.bpe_page.error.show_error(str(exc))
            return False
        self.bpe_page.error.show_error(None)
        if use:
            self.session.data.set_tokenizer(str(path))
            self.session.say(f"The next run will use {Path(path).name} (see the Setup tab)")
        else:
            self.session.say(f"Saved the tokenizer to {path}")
        return True

    @Slot()
    def _on_closing(self) -> None:
        self.timer.stop()
        self.lab.shutdown()
