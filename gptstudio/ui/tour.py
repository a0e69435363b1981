"""The first-run tour: six steps through Setup → Tokenizer → Train → Attention → Generate.

The steps are data (`resources/learn/tour.md`: a title, the objectName of the widget it points
at, a sentence or two), read by `tour_steps()`. `Tour(window)` shows them in a small floating
panel (objectName `tourPanel`) in the window's lower right corner with Back / Next / Leave; each
step brings its widget into view (its tab comes forward) and frames it (`widgets/highlight.py`).
The panel is a child widget, never a dialog: the whole app stays usable while it is open, which
the steps need (press Start, type a prompt). `offer_tour(window)` opens it once per user (the
settings' `tour/offered`); the app's entry point calls it, tests never do; Help › Tour opens it
any time. Left out: what the steps say (the .md file).
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, Qt, Slot
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from gptstudio.paths import resources_dir
from gptstudio.ui.widgets.highlight import Highlight, reveal
from gptstudio.ui.widgets.learn_panel import find_near

OFFERED = "tour/offered"
PANEL_WIDTH = 340
MARGIN = 16  # pixels from the window's edges


@dataclass(frozen=True)
class TourStep:
    title: str
    widget: str  # objectName of the widget the step points at ("" for none)
    text: str  # Markdown


def parse_steps(markdown: str) -> list[TourStep]:
    """Each "## title" section is a step; a "widget: NAME" line in it names its widget."""
    steps = []
    for section in markdown.split("\n## ")[1:]:
        title, _, body = section.partition("\n")
        widget, lines = "", []
        for line in body.strip().splitlines():
            if line.startswith("widget:") and not widget:
                widget = line.removeprefix("widget:").strip()
            else:
                lines.append(line)
        steps.append(TourStep(title.strip(), widget, "\n".join(lines).strip()))
    return steps


def tour_steps() -> list[TourStep]:
    return parse_steps((resources_dir() / "learn" / "tour.md").read_text(encoding="utf-8"))


class TourPanel(QFrame):
    """The floating panel: step counter, title, text, Back / Next / Leave."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("tourPanel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        self.setFixedWidth(PANEL_WIDTH)
        self.counter = QLabel()
        self.counter.setObjectName("tourCounter")
        self.title = QLabel()
        self.title.setObjectName("tourTitle")
        self.text = QLabel()
        self.text.setObjectName("tourText")
        self.text.setTextFormat(Qt.TextFormat.MarkdownText)
        self.text.setWordWrap(True)
        self.back = QPushButton("Back")
        self.back.setObjectName("tourBack")
        self.next = QPushButton("Next")
        self.next.setObjectName("tourNext")
        self.next.setDefault(True)
        self.leave = QPushButton("Leave")
        self.leave.setObjectName("tourLeave")
        self.leave.setToolTip("Close the tour (Help › Tour opens it again)")
        head = QHBoxLayout()
        head.addWidget(self.title, 1)
        head.addWidget(self.counter)
        buttons = QHBoxLayout()
        buttons.addWidget(self.leave)
        buttons.addStretch(1)
        buttons.addWidget(self.back)
        buttons.addWidget(self.next)
        layout = QVBoxLayout(self)
        layout.addLayout(head)
        layout.addWidget(self.text)
        layout.addLayout(buttons)


class Tour(QObject):
    """The steps, where the tour is (`index`; -1: not showing) and the current frame."""

    def __init__(self, window: QWidget, steps: list[TourStep] | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.steps = steps if steps is not None else tour_steps()
        self.index = -1
        self.frame: Highlight | None = None
        self.panel = TourPanel(window)
        self.panel.hide()
        self.panel.back.clicked.connect(self.back)
        self.panel.next.clicked.connect(self.next)
        self.panel.leave.clicked.connect(self.leave)
        window.installEventFilter(self)  # keep the panel in its corner when the window resizes

    @property
    def active(self) -> bool:
        return self.index >= 0

    @property
    def step(self) -> TourStep | None:
        return self.steps[self.index] if self.active else None

    def start(self, index: int = 0) -> None:
        self.show_step(index)

    def show_step(self, index: int) -> None:
        self.index = max(0, min(index, len(self.steps) - 1))
        step = self.steps[self.index]
        panel = self.panel
        panel.counter.setText(f"{self.index + 1} / {len(self.steps)}")
        panel.title.setText(f"<b>{step.title}</b>")
        panel.text.setText(step.text)
        panel.back.setEnabled(self.index > 0)
        panel.next.setText("Finish" if self.index == len(self.steps) - 1 else "Next")
        self._clear_frame()
        target = find_near(self.window, QWidget, step.widget) if step.widget else None
        if target is not None:
            reveal(target)
            self.frame = Highlight(target)
        panel.adjustSize()
        self._place()
        panel.show()
        panel.raise_()

    @Slot()
    def next(self) -> None:
        if self.index >= len(self.steps) - 1:
            self.leave()
        else:
            self.show_step(self.index + 1)

    @Slot()
    def back(self) -> None:
        if self.index > 0:
            self.show_step(self.index - 1)

    @Slot()
    def leave(self) -> None:
        self.index = -1
        self._clear_frame()
        self.panel.hide()

    def _clear_frame(self) -> None:
        if self.frame is not None:
            self.frame.clear()
            self.frame = None

    def _place(self) -> None:
        """The lower right corner, above the status bar."""
        window, panel = self.window, self.panel
        bottom = window.height() - MARGIN
        status = window.statusBar() if hasattr(window, "statusBar") else None
        if status is not None and status.isVisible():
            bottom -= status.height()
        panel.move(max(0, window.width() - panel.width() - MARGIN),
                   max(0, bottom - panel.height()))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if watched is self.window and event.type() == QEvent.Type.Resize and self.active:
            self._place()
        return False


def offer_tour(window, settings) -> bool:
    """Open the window's tour (`window.show_tour()`) the first time the app starts for this
    user, then never by itself; True if it opened."""
    if settings.value_bool(OFFERED, False):
        return False
    settings.set_value(OFFERED, True)
    window.show_tour()
    return True
