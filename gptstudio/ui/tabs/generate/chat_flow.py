"""The Chat page's flow: the conversation in the model's instruction template (or plain, for a
model that was not instruction-tuned), the reply streamed into the view, copy and save.

Left out: the other pages' flows (`flows.py`, `generate_flow.py`) and layout (`chat_page.py`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QFileDialog

from gptstudio.core.chat import ChatTurn, chat_notice
from gptstudio.ui.tabs.generate import jobs
from gptstudio.ui.tabs.generate.flows import Flow
from gptstudio.ui.tabs.generate.pieces import result_summary

if TYPE_CHECKING:
    from gptstudio.ui.tabs.generate.tab import GenerateTab

# The whole conversation is laid out again for each update: a few a second are enough.
RENDER_SECONDS = 0.15


class ChatFlow(Flow):
    """Chat: the conversation in the instruction template, the reply streamed."""

    def __init__(self, tab: GenerateTab) -> None:
        super().__init__(tab)
        self.page = page = tab.chat_page
        self.reply = ""
        self.dirty = False
        self.drawn_at = 0.0
        self.message = ""
        page.send.clicked.connect(self.send)
        page.stop.clicked.connect(tab.stop)
        page.save.clicked.connect(self._on_save)

    def send(self) -> None:
        message = self.page.input.toPlainText()
        if not message.strip():
            self.page.status.setText("Type a message first.")
            return
        config = self.ready(self.page.status)
        if config is None:
            return
        tuned, template = self.tab.chat_setup()
        self.page.notice.setText(chat_notice(tuned))
        history = list(self.page.turns)
        self.message = message
        self.page.turns.append(ChatTurn("user", message))
        self.page.input.clear()
        self.reply, self.page.partial = "", ""
        self.page.model_label = self.tab.selector.currentText()
        self.page.render()
        self.page.set_running(True)
        self.page.status.setText("The model is writing…")
        self.request = self.tab.start(self, jobs.chat_job(history, message, config, template))

    def on_progress(self, value: object) -> None:
        if isinstance(value, jobs.ChatStarted) and value.prompt.turns_dropped:
            self.page.status.setText(f"The oldest {value.prompt.turns_dropped} turns no longer "
                                     "fit in the model's context and were left out.")
        elif isinstance(value, jobs.TokenBatch):
            self.reply += "".join(e.piece for e in value.events)
            self.dirty = True
            if time.monotonic() - self.drawn_at >= RENDER_SECONDS:
                self.redraw()

    def redraw(self) -> None:
        if self.dirty:
            self.dirty, self.drawn_at = False, time.monotonic()
            self.page.partial = self.reply
            self.page.render()

    def on_finished(self, result: object) -> None:
        self.page.set_running(False)
        self.page.partial, self.dirty = None, False  # the reply becomes a turn: no partial
        if isinstance(result, jobs.ChatReply):
            self.page.turns.append(ChatTurn("assistant", result.reply))
            self.page.status.setText(result_summary(result.result, len(result.result.events)))
        self.page.render()

    def on_failed(self, message: str) -> None:
        self.page.set_running(False)
        self.page.partial, self.dirty = None, False
        if self.page.turns and self.page.turns[-1].role == "user":
            self.page.turns.pop()  # not answered: give the message back, nothing is lost
            if not self.page.input.toPlainText():
                self.page.input.setPlainText(self.message)
        self.page.render()
        self.page.status.setText(f"Could not reply: {message}")

    def on_stopped(self, reason: str) -> None:
        self.redraw()
        self.page.set_running(False)
        if self.page.partial is not None:
            self.page.turns.append(ChatTurn("assistant", self.reply.strip() + " […]"))
        self.page.partial, self.dirty = None, False
        self.page.render()
        self.page.status.setText(reason)

    def _on_save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.page, "Save the transcript", "chat.md",
                                              "Markdown (*.md)")
        if path:
            self.save(path)

    def save(self, path: str) -> bool:
        ok = self.page.save_transcript(path)
        self.page.status.setText(f"Transcript saved to {path}" if ok else
                                 f"Cannot write {path}.")
        return ok
