"""The Generate page's flow: stream after the prompt, branch from an alternative, and keep the
next-token chart's logits (re-shaped on the GUI thread when a knob moves).

Left out: the other pages' flows (`flows.py`, `chat_flow.py`) and layout (`pages.py`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QMenu

from gptstudio.core.next_token import NextTokenLogits
from gptstudio.core.sampling import TokenEvent
from gptstudio.core.tokenizers.pieces import visible
from gptstudio.ui.tabs.generate import jobs
from gptstudio.ui.tabs.generate.flows import FIX_FIELDS, NO_MODEL, Flow, facts_note, show_result
from gptstudio.ui.tabs.generate.pieces import crop_note, result_summary, token_pieces, token_tooltip
from gptstudio.ui.tabs.generate.shaded_text import Piece

if TYPE_CHECKING:
    from gptstudio.ui.tabs.generate.tab import GenerateTab

COUNT_SECONDS = 0.5  # how often the status updates its token count while streaming


class GenerateFlow(Flow):
    """Generate: stream after the prompt; branch from an alternative; the next-token chart."""

    def __init__(self, tab: GenerateTab) -> None:
        super().__init__(tab)
        self.page = page = tab.generate_page
        self.mode: str | None = None  # "generate" | "logits" while a request runs
        self.events: list[TokenEvent] = []
        self.prompt_ids: tuple[int, ...] | None = None
        self.pending: list[Piece] = []
        self.logits: NextTokenLogits | None = None
        self.result = None
        self.counted_at = 0.0  # when the status last showed the token count
        page.generate.clicked.connect(self.start)
        page.stop.clicked.connect(self.stop)
        page.text.token_clicked.connect(self.on_token_clicked)
        page.text.tooltip_for = self.tooltip

    def tooltip(self, index: int) -> str:
        """A generated token's tooltip: its probability and the alternatives it had."""
        return token_tooltip(self.events[index]) if 0 <= index < len(self.events) else ""

    @property
    def running(self) -> bool:
        return self.mode == "generate"

    def start(self) -> None:
        config = self.ready(self.page.status)
        if config is None:
            return
        prompt = self.page.prompt.toPlainText()
        self.events, self.pending, self.result, self.prompt_ids = [], [], None, None
        self.page.text.set_prompt(prompt)
        self.page.prompt_note.clear()
        self._launch(jobs.generation_job(prompt, config))

    def stop(self) -> None:
        self.tab.stop()

    def _launch(self, job) -> None:
        self.mode = "generate"
        self.page.set_running(True)
        self.page.status.setText("Generating…")
        self.request = self.tab.start(self, job)

    def branch(self, index: int, token_id: int) -> bool:
        """Continue from `token_id` at `index` instead, keeping the text before it."""
        config = self.ready(self.page.status)
        if config is None or self.running or self.prompt_ids is None:
            return False
        before = list(self.events)
        self.events, self.pending = before[:index], []
        self.page.text.set_pieces(token_pieces(self.events))
        self._launch(jobs.branch_job(self.prompt_ids, before, index, token_id, config))
        return True

    def alternatives_menu(self, index: int) -> QMenu:
        """The menu a click on token `index` opens: its alternatives, to branch from."""
        menu = QMenu(self.page.text)
        menu.setObjectName("branchMenu")
        event = self.events[index]
        title = menu.addAction(f"Continue with another token instead of {visible(event.piece)!r}:")
        title.setEnabled(False)
        for token_id, piece, p in event.alternatives:
            if token_id == event.id:
                continue
            action = menu.addAction(f"{visible(piece)}    {100 * p:.1f}%")
            action.setData(token_id)
        return menu

    def on_token_clicked(self, index: int, position: QPoint) -> None:
        if self.running or not 0 <= index < len(self.events):
            return
        chosen = self.alternatives_menu(index).exec(position)
        if chosen is not None and chosen.data() is not None:
            self.branch(index, int(chosen.data()))

    # -- the next-token chart ----------------------------------------------------------------
    def forget_distribution(self) -> None:
        self.logits = None
        self.page.chart.set_distribution(None, "Asking the model…")

    def request_distribution(self, only_if_missing: bool = False) -> None:
        """The next token's logits after the prompt (skipped while any job runs)."""
        if self.tab.active is not None or (only_if_missing and self.logits is not None):
            return
        if self.tab.source() is None:
            self.page.chart.set_distribution(None, NO_MODEL)
            return
        self.mode = "logits"
        self.request = self.tab.start(self, jobs.logits_job(self.page.prompt.toPlainText()))

    def redraw_distribution(self) -> None:
        """Re-shape the kept logits with the current temperature, top-k and top-p."""
        if self.logits is None:
            return
        config = self.tab.controls.config()
        if config is None:
            self.page.chart.set_distribution(None, FIX_FIELDS)
            self.page.chart_note.clear()
            return
        dist = self.logits.distribution(config)
        self.page.chart.set_distribution(dist)
        self.page.chart_note.setText(
            f"{dist.n_kept:,} of {dist.vocab_size:,} tokens can be drawn"
            + ("" if dist.greedy else f" · entropy {dist.entropy:.2f} nats")
            + (" · greedy: always the first" if dist.greedy else ""))

    # -- the stream's news -------------------------------------------------------------------
    def on_progress(self, value: object) -> None:
        if isinstance(value, jobs.GenerationStarted):
            self.prompt_ids = value.prompt.ids
            self.page.prompt_note.setText(crop_note(value.prompt))
            self.tab.model_note.setText(facts_note(value.facts))
        elif isinstance(value, jobs.TokenBatch):
            self.pending.extend(token_pieces(value.events, len(self.events)))
            self.events.extend(value.events)
            self.redraw()

    def redraw(self) -> None:
        if self.pending:
            self.page.text.append(self.pending)
            self.pending = []
            now = time.monotonic()
            if self.running and now - self.counted_at >= COUNT_SECONDS:
                # A new status text lays the page out again (the chart repaints): not per batch.
                self.counted_at = now
                self.page.status.setText(f"Generating… {len(self.events):,} tokens")

    def on_finished(self, result: object) -> None:
        mode, self.mode = self.mode, None
        if isinstance(result, jobs.PromptLogits):
            self.logits = result.logits
            self.page.chart_caption.setText("Next token after the prompt")
            self.page.prompt_note.setText(crop_note(result.logits.prompt))
            self.tab.model_note.setText(facts_note(result.facts))
            self.redraw_distribution()
            return
        if mode != "generate" or not isinstance(result, jobs.Generated):
            return
        self.redraw()
        self.result = result.result
        self.events = list(result.result.events)
        show_result(self.page.text, result.result, token_pieces(self.events))
        self.page.set_running(False)
        self.page.status.setText(result_summary(result.result, len(self.events)))
        if result.next_logits is not None:
            self.logits = result.next_logits
            self.page.chart_caption.setText("Next token after the generated text")
            self.redraw_distribution()

    def on_failed(self, message: str) -> None:
        mode, self.mode = self.mode, None
        if mode == "logits":
            self.page.chart.set_distribution(None, message)
            self.page.prompt_note.setText(message)
            return
        self.page.set_running(False)
        self.page.status.setText(f"Could not generate: {message}")

    def on_stopped(self, reason: str) -> None:
        mode, self.mode = self.mode, None
        if mode != "generate":
            return
        self.redraw()
        self.page.set_running(False)
        note = " (the last token ended inside a character, not shown)" \
            if self.events and self.events[-1].piece == "" else ""
        self.page.status.setText(f"{reason} {len(self.events):,} tokens.{note}")
