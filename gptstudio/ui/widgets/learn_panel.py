"""The learn panel: a tab's short side text for readers of the book, in a collapsible frame.

Each tab's text is Markdown in `resources/learn/<key>.md` (shipped with the app), shown with Qt's
own Markdown support (`QTextBrowser.setMarkdown`). The header button folds the panel to a narrow
strip so the tab gets the room back. Left out: what the texts say (the .md files).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Slot
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextBrowser, QToolButton, QVBoxLayout, QWidget

from gptstudio.paths import resources_dir

EXPANDED_WIDTH = 180  # pixels, at least: room for a few words a line (more when given)


def learn_text(key: str) -> str:
    """The Markdown of tab `key`'s learn panel (a short note if it has none)."""
    path = resources_dir() / "learn" / f"{key}.md"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return f"*No notes for this tab yet* ({path.name} is missing)."


class LearnPanel(QFrame):
    """A "Learn" toggle over a QTextBrowser showing `learn_text(key)`; objectName learnPanel."""

    def __init__(self, key: str, parent: QWidget | None = None, *,
                 expanded: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("learnPanel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.toggle = QToolButton()
        self.toggle.setObjectName("learnToggle")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setToolTip("Show or hide the notes on this stage of building a GPT")
        self.browser = QTextBrowser()
        self.browser.setObjectName("learnText")
        self.browser.setOpenExternalLinks(True)
        self.browser.setMarkdown(learn_text(key))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.browser, 1)
        self.toggle.toggled.connect(self.set_expanded)
        self.toggle.setChecked(expanded)
        self.set_expanded(expanded)

    @property
    def expanded(self) -> bool:
        return self.toggle.isChecked()

    @Slot(bool)
    def set_expanded(self, expanded: bool) -> None:
        self.toggle.setChecked(expanded)
        self.toggle.setArrowType(Qt.ArrowType.RightArrow if expanded else Qt.ArrowType.LeftArrow)
        self.toggle.setText("Learn" if expanded else "")
        self.browser.setVisible(expanded)
        if expanded:
            self.setMinimumWidth(EXPANDED_WIDTH)
            self.setMaximumWidth(2 * EXPANDED_WIDTH + 60)
        else:
            self.setMinimumWidth(0)
            self.setMaximumWidth(self.toggle.sizeHint().width() + 10)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
