"""The Generate tab's chat page: the conversation, the message field, copy and save.

The conversation is a list of core `ChatTurn`s; the view re-renders it (as HTML, each turn in
its own block) when it changes, with the reply being streamed shown as it grows. A notice above
says what to expect of the chosen model (core's `chat_notice`). Copy and Save write core's
Markdown transcript (Save atomically, through QSaveFile). Left out: building the prompt and
generating (the tab's job, `core.chat`).
"""

from __future__ import annotations

import html

from PySide6.QtCore import QSaveFile, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QTextBrowser, QVBoxLayout, QWidget,
)

from gptstudio.core.chat import ChatTurn, transcript_markdown
from gptstudio.ui.theme import PlotTheme, plot_theme


def _button(text: str, name: str, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setToolTip(tip)
    return button


class ChatPage(QWidget):
    """See the module docstring."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.turns: list[ChatTurn] = []
        self.partial: str | None = None  # the reply being generated
        self.model_label = ""
        self._theme = plot_theme()
        self.notice = QLabel()
        self.notice.setObjectName("chatNotice")
        self.notice.setWordWrap(True)
        self.view = QTextBrowser()
        self.view.setObjectName("chatView")
        self.view.setPlaceholderText("Your conversation with the model appears here.")
        self.input = QPlainTextEdit()
        self.input.setObjectName("chatInput")
        self.input.setPlaceholderText("Type a message and press Send (Ctrl+Enter)")
        self.input.setFixedHeight(self.input.fontMetrics().lineSpacing() * 3 + 14)
        self.send = _button("Send", "chatSendButton", "Send the message (Ctrl+Enter)")
        self.stop = _button("Stop", "chatStopButton", "Stop the reply now")
        self.stop.setEnabled(False)
        self.copy = _button("Copy", "chatCopyButton", "Copy the transcript (Markdown)")
        self.save = _button("Save…", "chatSaveButton", "Save the transcript as Markdown")
        self.clear = _button("Clear", "chatClearButton", "Start a new conversation")
        self.status = QLabel()
        self.status.setObjectName("chatStatus")
        self.status.setWordWrap(True)
        side = QVBoxLayout()
        for button in (self.send, self.stop):
            side.addWidget(button)
        side.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addLayout(side)
        tools = QHBoxLayout()
        tools.addWidget(self.status, 1)
        for button in (self.copy, self.save, self.clear):
            tools.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.notice)
        layout.addWidget(self.view, 1)
        layout.addLayout(tools)
        layout.addLayout(row)
        self.clear.clicked.connect(self.clear_turns)
        self.copy.clicked.connect(self.copy_transcript)

    def set_running(self, running: bool) -> None:
        self.send.setEnabled(not running)
        self.stop.setEnabled(running)
        self.clear.setEnabled(not running)

    def transcript(self) -> str:
        return transcript_markdown(self.turns, model=self.model_label)

    def copy_transcript(self) -> None:
        QGuiApplication.clipboard().setText(self.transcript())

    def save_transcript(self, path: str) -> bool:
        out = QSaveFile(path)
        if not out.open(QSaveFile.OpenModeFlag.WriteOnly | QSaveFile.OpenModeFlag.Text):
            return False
        out.write(self.transcript().encode("utf-8"))
        return out.commit()

    def clear_turns(self) -> None:
        self.turns, self.partial = [], None
        self.render()

    def apply_theme(self, theme: PlotTheme) -> None:
        self._theme = theme
        self.render()

    def render(self) -> None:
        """Draw the turns (and the reply in progress) again."""
        blocks = []
        turns = list(self.turns)
        if self.partial is not None:
            turns.append(ChatTurn("assistant", self.partial + " ▌"))
        for turn in turns:
            who = "You" if turn.role == "user" else "Model"
            color = self._theme.train if turn.role == "user" else self._theme.val
            body = html.escape(turn.text).replace("\n", "<br>") or "&nbsp;"
            blocks.append(f'<p style="margin-bottom:10px"><b style="color:{color}">{who}</b>'
                          f"<br>{body}</p>")
        self.view.setHtml("".join(blocks))
        bar = self.view.verticalScrollBar()
        bar.setValue(bar.maximum())

    def take_message(self) -> str:
        text = self.input.toPlainText()
        return text

    def focus_input(self) -> None:
        self.input.setFocus(Qt.FocusReason.OtherFocusReason)
