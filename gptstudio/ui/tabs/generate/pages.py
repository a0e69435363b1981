"""The Generate tab's pages: Generate (prompt, text, next-token chart), Compare, How surprised?

Each page is layout only: its widgets, their object names and captions, and small helpers to
show a state ("running", a status sentence). The flow (what a click starts, what a result
shows) is the tab's. Left out: the chat page (`chat_page.py`), the sampling fields
(`controls.py`).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox, QHBoxLayout, QLabel, QLineEdit, QPlainTextEdit, QPushButton, QSplitter,
    QVBoxLayout, QWidget,
)

from gptstudio.ui.tabs.generate.next_token_chart import NextTokenChart
from gptstudio.ui.tabs.generate.shaded_text import ShadedText

RUN_KEY = "Ctrl+Enter"


class NoteLabel(QLabel):
    """A sentence under a field or a view; hidden while empty, so it takes no room."""

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(name)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        super().setText(text)
        self.setVisible(bool(text))

    def clear(self) -> None:
        self.setText("")


def _status(name: str) -> NoteLabel:
    return NoteLabel(name)


def _caption(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


def _button(text: str, name: str, tip: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setToolTip(tip)
    return button


class GeneratePage(QWidget):
    """Prompt, Generate/Stop, the shaded text and the next-token chart."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prompt = QPlainTextEdit()
        self.prompt.setObjectName("promptInput")
        self.prompt.setPlaceholderText("Type a prompt (empty: start a fresh text) and press "
                                       f"Generate ({RUN_KEY})")
        self.prompt.setFixedHeight(self.prompt.fontMetrics().lineSpacing() * 4 + 14)
        self.generate = _button("Generate", "generateButton",
                                f"Generate text after the prompt ({RUN_KEY})")
        self.generate.setDefault(True)
        self.stop = _button("Stop", "stopGenerateButton", "Stop generating now")
        self.stop.setEnabled(False)
        self.status = _status("generateStatus")
        self.prompt_note = _status("promptNote")
        self.text = ShadedText("generatedText", "The generated text appears here, token by "
                                                "token.")
        legend = QLabel("Shading: the stronger the colour, the less likely the token was. "
                        "Hover a token for its alternatives; click it to branch from one.")
        legend.setObjectName("generateLegend")
        legend.setWordWrap(True)
        self.chart = NextTokenChart()
        self.chart_caption = _caption("Next token")
        self.chart_note = _status("chartNote")

        buttons = QVBoxLayout()
        buttons.addWidget(self.generate)
        buttons.addWidget(self.stop)
        buttons.addStretch(1)
        top = QHBoxLayout()
        top.addWidget(self.prompt, 1)
        top.addLayout(buttons)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.text, 1)
        left_layout.addWidget(legend)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.chart_caption)
        right_layout.addWidget(self.chart, 1)
        right_layout.addWidget(self.chart_note)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.prompt_note)
        layout.addWidget(self.status)
        layout.addWidget(split, 1)

    def set_running(self, running: bool) -> None:
        self.generate.setEnabled(not running)
        self.stop.setEnabled(running)


class ComparePage(QWidget):
    """One prompt, one seed, two models side by side."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prompt = QLineEdit()
        self.prompt.setObjectName("comparePrompt")
        self.prompt.setPlaceholderText("The prompt both models continue")
        self.left_model = QComboBox()
        self.left_model.setObjectName("compareLeftSelector")
        self.right_model = QComboBox()
        self.right_model.setObjectName("compareRightSelector")
        self.run = _button("Compare", "compareButton",
                           f"Generate with both models, same prompt and seed ({RUN_KEY})")
        self.stop = _button("Stop", "compareStopButton", "Stop generating now")
        self.stop.setEnabled(False)
        self.status = _status("compareStatus")
        self.left_text = ShadedText("compareLeftText", "The first model's text.")
        self.right_text = ShadedText("compareRightText", "The second model's text.")
        self.left_note = _status("compareLeftNote")
        self.right_note = _status("compareRightNote")
        row = QHBoxLayout()
        row.addWidget(QLabel("Prompt"))
        row.addWidget(self.prompt, 1)
        row.addWidget(self.run)
        row.addWidget(self.stop)
        sides = QHBoxLayout()
        for combo, text, note in ((self.left_model, self.left_text, self.left_note),
                                  (self.right_model, self.right_text, self.right_note)):
            column = QVBoxLayout()
            column.addWidget(combo)
            column.addWidget(text, 1)
            column.addWidget(note)
            sides.addLayout(column, 1)
        hint = QLabel("The same settings and seed for both (a random seed is drawn once), so "
                      "what differs is what training changed: try an early checkpoint against "
                      "a late one.")
        hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(hint)
        layout.addWidget(self.status)
        layout.addLayout(sides, 1)

    def set_running(self, running: bool) -> None:
        self.run.setEnabled(not running)
        self.stop.setEnabled(running)


class ScorePage(QWidget):
    """A text, each of its tokens shaded by its loss, and the passage's figures."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.input = QPlainTextEdit()
        self.input.setObjectName("scoreInput")
        self.input.setPlaceholderText("Paste any text to see how surprised the model is by "
                                      "each of its tokens")
        self.input.setFixedHeight(self.input.fontMetrics().lineSpacing() * 5 + 14)
        self.run = _button("Score", "scoreButton", f"Score every token of the text ({RUN_KEY})")
        self.summary = _status("scoreSummary")
        self.text = ShadedText("scoredText", "Each token of the text, shaded by its loss.")
        legend = QLabel("Shading: the stronger the colour, the higher the token's loss "
                        "(full colour: as surprised as a uniform guess over the vocabulary). "
                        "Hover a token for its loss and what the model expected instead.")
        legend.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.input, 1)
        top.addWidget(self.run, 0, Qt.AlignmentFlag.AlignTop)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(self.text, 1)
        layout.addWidget(legend)

    def set_running(self, running: bool) -> None:
        self.run.setEnabled(not running)
