"""What each page of the Generate tab does: start a job, show what it sends, end cleanly.

A flow owns one page's state. The tab runs one job at a time for one flow (`tab.start`), routes
the stream worker's signals to that flow only (`on_progress`, `on_finished`, `on_failed`,
`on_stopped`). A batch of tokens (the worker sends at most ~30 a second) is drawn when it
arrives, in one go (`redraw`). This module holds the base (`Flow`) and the Compare and
How surprised? pages' flows; Generate's is `generate_flow.py`, Chat's `chat_flow.py`. Left
out: layout (`pages.py`, `chat_page.py`) and engine work (`jobs.py` wraps the engine calls).
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import TYPE_CHECKING

from gptstudio.core.sampling import TokenEvent
from gptstudio.ui.tabs.generate import jobs
from gptstudio.ui.tabs.generate.pieces import (
    cut_pieces, result_summary, score_pieces, score_summary, token_pieces, token_tooltip,
)
from gptstudio.ui.tabs.generate.shaded_text import Piece, ShadedText

if TYPE_CHECKING:
    from gptstudio.ui.tabs.generate.tab import GenerateTab

FIX_FIELDS = "Fix the settings marked in red first."
NO_MODEL = "There is no model yet: train one, or open a run (Open run…)."


def facts_note(facts: jobs.ModelFacts) -> str:
    return (f"Reads {facts.block_size:,} tokens at once · {facts.vocab_size:,} tokens in its "
            f"vocabulary · tokenizer: {facts.tokenizer_name}")


def show_result(view: ShadedText, result, pieces: list[Piece]) -> None:
    """Show a finished generation exactly as its result says: cut before a stop string, and
    any bytes of a character it stopped inside as a muted note."""
    joined = "".join(p.text for p in pieces)
    if result.text != joined:
        if joined.startswith(result.text):
            view.set_pieces(cut_pieces(pieces, len(result.text)))
        elif result.text.startswith(joined):
            view.set_pieces(pieces, f"{result.text[len(joined):]} (it stopped inside a "
                                    "character: these are the bytes it had)")


class Flow:
    """The interface the tab drives (see the module docstring)."""

    def __init__(self, tab: GenerateTab) -> None:
        self.tab = tab
        self.request: int | None = None

    def on_progress(self, value: object) -> None: ...
    def on_finished(self, result: object) -> None: ...
    def on_failed(self, message: str) -> None: ...
    def on_stopped(self, reason: str) -> None: ...
    def redraw(self) -> None: ...

    def ready(self, status) -> object | None:
        """The sampling config, or None after saying (in `status`) why not."""
        config = self.tab.controls.config()
        if config is None:
            status.setText(FIX_FIELDS)
        elif self.tab.source() is None:
            status.setText(NO_MODEL)
            return None
        return config


class CompareFlow(Flow):
    """Compare: the same prompt, settings and seed on two models, one after the other."""

    def __init__(self, tab: GenerateTab) -> None:
        super().__init__(tab)
        self.page = page = tab.compare_page
        self.side = 0
        self.config = None
        self.prompt = ""
        self.pending: list[Piece] = []
        self.events: list[TokenEvent] = []
        self.side_events: tuple[list[TokenEvent], list[TokenEvent]] = ([], [])
        page.run.clicked.connect(self.start)
        page.stop.clicked.connect(tab.stop)
        for side, view in enumerate(self.views()):
            view.tooltip_for = lambda i, side=side: self._tooltip(side, i)

    def _tooltip(self, side: int, index: int) -> str:
        events = self.side_events[side]
        return token_tooltip(events[index]) if 0 <= index < len(events) else ""

    def views(self) -> tuple[ShadedText, ShadedText]:
        return self.page.left_text, self.page.right_text

    def start(self) -> None:
        config = self.ready(self.page.status)
        left, right = self.page.left_model.currentData(), self.page.right_model.currentData()
        if config is None:
            return
        if left is None or right is None:
            self.page.status.setText(NO_MODEL)
            return
        if config.seed is None:  # one seed for both, or the comparison means nothing
            config = replace(config, seed=random.randrange(2**31))
        self.config, self.prompt = config, self.page.prompt.text()
        for view, note in zip(self.views(), (self.page.left_note, self.page.right_note)):
            view.set_prompt(self.prompt)
            note.clear()
        self.page.status.setText(f"Seed {config.seed}: generating with the first model…")
        self.page.set_running(True)
        self._run_side(0)

    def _run_side(self, side: int) -> None:
        self.side, self.pending, self.events = side, [], []
        self.side_events[side].clear()
        source = (self.page.left_model, self.page.right_model)[side].currentData()
        job = jobs.generation_job(self.prompt, self.config, with_next=False)
        self.request = self.tab.start(self, job, source=source)

    def on_progress(self, value: object) -> None:
        if isinstance(value, jobs.TokenBatch):
            self.pending.extend(token_pieces(value.events, len(self.events)))
            self.events.extend(value.events)
            self.side_events[self.side].extend(value.events)
            self.redraw()

    def redraw(self) -> None:
        if self.pending:
            self.views()[self.side].append(self.pending)
            self.pending = []

    def on_finished(self, result: object) -> None:
        if not isinstance(result, jobs.Generated):
            return
        self.redraw()
        view = self.views()[self.side]
        show_result(view, result.result, token_pieces(result.result.events))
        note = (self.page.left_note, self.page.right_note)[self.side]
        note.setText(result_summary(result.result, len(result.result.events)))
        if self.side == 0:
            self.page.status.setText(f"Seed {self.config.seed}: now the second model…")
            self._run_side(1)
        else:
            self.page.set_running(False)
            self.page.status.setText(f"Both with seed {self.config.seed} and the same "
                                     "settings.")

    def on_failed(self, message: str) -> None:
        self.page.set_running(False)
        self.page.status.setText(f"Could not generate: {message}")

    def on_stopped(self, reason: str) -> None:
        self.redraw()
        self.page.set_running(False)
        self.page.status.setText(reason)


class ScoreFlow(Flow):
    """How surprised? Every token of a text shaded by its loss."""

    def __init__(self, tab: GenerateTab) -> None:
        super().__init__(tab)
        self.page = page = tab.score_page
        self.score = None
        page.run.clicked.connect(self.start)

    def start(self) -> None:
        text = self.page.input.toPlainText()
        if not text.strip():
            self.page.summary.setText("Paste or type some text to score.")
            return
        if self.tab.source() is None:
            self.page.summary.setText(NO_MODEL)
            return
        self.page.set_running(True)
        self.page.summary.setText("Scoring…")
        self.request = self.tab.start(self, jobs.score_job(text))

    def on_finished(self, result: object) -> None:
        self.page.set_running(False)
        if isinstance(result, jobs.Scored):
            self.score = result.score
            self.page.text.set_prompt("")
            self.page.text.append(score_pieces(result.score, result.facts.vocab_size))
            self.page.summary.setText(score_summary(result.score, result.facts.vocab_size))

    def on_failed(self, message: str) -> None:
        self.page.set_running(False)
        self.page.summary.setText(f"Could not score: {message}")

    def on_stopped(self, reason: str) -> None:
        self.page.set_running(False)
        self.page.summary.setText(reason)
