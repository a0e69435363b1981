"""What the Setup tab's learn links and its "Reproduce…" button do.

`SetupLinks(tab)` registers the tab's `try:` link actions (`learn_panel.link_action`):
`copy-task` (the synthetic copy task, characters, the nano model, 600 steps: a run whose
attention pattern is known) and `book-verdict` / `book-shakespeare` (`core/train/book.py`'s
published runs), and builds the `reproduceBookButton` with a menu of the same two. Applying a
published run fills every box, starts the right corpus (a known download: fetched once and
cached; offline, the reader opens their own copy) and asks the Train tab, through the Session, to
draw the published losses. Left out: the boxes' own fields, the drawing (the Train tab).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Slot
from PySide6.QtWidgets import QLabel, QMenu, QPushButton

from gptstudio.core.corpora import KNOWN_DOWNLOADS
from gptstudio.core.model import PRESETS
from gptstudio.core.train.book import BOOK_RUNS, BookRun
from gptstudio.ui.widgets.learn_panel import link_action

if TYPE_CHECKING:
    from gptstudio.ui.tabs.setup.tab import SetupTab

COPY_TASK_STEPS = 600


class SetupLinks(QObject):
    """See the module docstring; `button` and `note` are placed by the tab."""

    def __init__(self, tab: SetupTab) -> None:
        super().__init__(tab)
        self.tab = tab
        link_action(tab, "copy-task", self.set_up_copy_task, "Set up the copy task")
        menu = QMenu(tab)
        menu.setObjectName("reproduceBookMenu")
        for run in BOOK_RUNS.values():
            item = link_action(tab, f"book-{run.key}", lambda *_, r=run: self.reproduce(r),
                               run.title)
            menu.addAction(item)
        self.button = QPushButton("Reproduce…")
        self.button.setObjectName("reproduceBookButton")
        self.button.setToolTip("Set up a published run (the book's chapter 5, nanoGPT's "
                               "Shakespeare) and draw its losses over yours on the Train tab")
        self.button.setMenu(menu)
        self.note = QLabel()  # what a reproduced run differs in, and where its text comes from
        self.note.setObjectName("bookRunNote")
        self.note.setWordWrap(True)
        self.note.hide()

    def _ready(self) -> bool:
        """Start a new run if a run is open (its settings are locked); False while training."""
        session = self.tab.session
        if not session.training.state.allows("edit_setup"):
            session.say("Stop the training first.")
            return False
        return session.runs.opened is None or session.new_run()

    @Slot()
    def set_up_copy_task(self) -> None:
        """The copy task by character on the nano model: a few hundred steps teach it to look
        back at the letter it copies (see the Attention tab's Ideal: copy)."""
        if not self._ready():
            return
        tab, data = self.tab, self.tab.session.data
        if data.corpus_spec != "builtin:copy":
            data.load_corpus("builtin:copy")
        data.set_tokenizer("char")
        tab.model_box.set_preset("nano")
        tab.training_box.set_field("max_steps", str(COPY_TASK_STEPS))
        self.note.setText("<b>Copy task</b> set up: press Start, then open the Attention tab "
                          "and choose <i>Ideal: copy</i>.")
        self.note.show()
        tab.session.show_reference(None)
        tab.session.say("Copy task set up: press Start (Ctrl+Enter).")

    def reproduce(self, run: BookRun) -> None:
        """Fill every box with `run`'s settings and show its published losses."""
        if not self._ready():
            return
        tab, data = self.tab, self.tab.session.data
        preset = next((n for n, c in PRESETS.items() if c.n_embd == run.model.n_embd
                       and c.n_layer == run.model.n_layer), None)
        if preset is not None:
            tab.model_box.set_preset(preset)
        tab.model_box.apply_config(run.model)
        tab.training_box.apply(run.train, run.model.dropout)
        already = data.corpus_spec == run.corpus or \
            (data.corpus_spec or "").endswith(run.corpus_file)
        if not already:
            data.load_corpus(run.corpus)
        data.set_tokenizer(run.tokenizer)
        known = KNOWN_DOWNLOADS[run.corpus.split(":", 1)[1]]
        differences = " ".join(run.differences)
        self.note.setText(
            f"<b>{run.title}</b> ({run.chapter}) is set up; the Train tab draws its published "
            f"losses. The text is downloaded once from {known.url.split('/')[2]} and cached; "
            f"offline, open your copy of <i>{run.corpus_file}</i> (File › Open corpus). "
            f"<i>Differences:</i> {differences}")
        self.note.show()
        tab.session.show_reference(run.reference)
        tab.session.say(f"{run.title}: set up. Press Start when the corpus has loaded.")
