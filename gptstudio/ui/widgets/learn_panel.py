"""The learn panel: a tab's short side text for readers of the book, in a collapsible frame.

Each tab's text is Markdown in `resources/learn/<key>.md` (shipped with the app), shown with Qt's
own Markdown support (`QTextBrowser.setMarkdown`). The header button folds the panel to a narrow
strip so the tab gets the room back; whether it is folded is remembered per tab (the settings'
`learn/<key>/expanded`). A tab may put live widgets under the text (`add_widget`: the Train
tab's "Is this normal?").

Links in the text do things (the action vocabulary; a Markdown link's target):

    widget:NAME        bring the widget with objectName NAME into view and frame it briefly
                       ("[the loss curve](widget:lossPlot)")
    set:NAME=VALUE     set that control as if the user did, then frame it: a spin box or slider
                       takes the number, a combo box the item whose data (else text) is VALUE,
                       a check box "on"/"off", a line edit or text box the text (%20 = space)
                       ("[raise the temperature to 1.5](set:temperatureSpin=1.5)")
    try:NAME           trigger the QAction named "learn:NAME" that a tab registered with
                       `link_action` ("[set up the copy task](try:copy-task)")
    http(s)://...      open in the browser

NAME is looked up from the panel outwards: its own tab first, then the whole window (so a link
may point at another tab, which is then brought forward). A link whose target is missing says
so under the text instead of doing nothing. Left out: what the texts say (the .md files).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QUrl, Signal, Slot
from PySide6.QtGui import QAction, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractButton, QAbstractSlider, QComboBox, QDoubleSpinBox, QFrame,
    QLabel, QLineEdit, QPlainTextEdit, QSizePolicy, QSpinBox, QTextBrowser, QTextEdit,
    QToolButton, QVBoxLayout, QWidget,
)

from gptstudio.paths import resources_dir
from gptstudio.ui.widgets.highlight import flash

log = logging.getLogger(__name__)

EXPANDED_WIDTH = 180  # pixels, at least: room for a few words a line (more when given)
ON_WORDS = ("on", "true", "yes", "1")


def learn_text(key: str) -> str:
    """The Markdown of tab `key`'s learn panel (a short note if it has none)."""
    path = resources_dir() / "learn" / f"{key}.md"
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return f"*No notes for this tab yet* ({path.name} is missing)."


def link_action(owner: QObject, name: str, slot: Callable[[], object], tip: str = "") -> QAction:
    """Register what the link `try:NAME` does: a QAction "learn:NAME" owned by `owner` (a tab)."""
    item = QAction(tip or name, owner)
    item.setObjectName(f"learn:{name}")
    item.triggered.connect(slot)
    return item


def find_near(origin: QWidget, kind: type, name: str):
    """The `kind` child named `name` nearest to `origin`: within its parent, then the
    grandparent's, ... up to its window (None if there is none)."""
    scope: QWidget | None = origin
    while scope is not None:
        found = scope.findChild(kind, name)
        if found is not None:
            return found
        scope = scope.parentWidget()
    return None


def set_control(widget: QWidget, value: str) -> bool:
    """Set a control from text as a user would (combo boxes also emit `activated`); False if
    the widget is not a control this knows or the value does not fit it."""
    try:
        if isinstance(widget, QDoubleSpinBox):
            widget.setValue(float(value))
        elif isinstance(widget, QSpinBox):
            widget.setValue(int(float(value)))
        elif isinstance(widget, QAbstractSlider):
            widget.setValue(int(float(value)))
        elif isinstance(widget, QComboBox):
            index = widget.findData(value)
            index = index if index >= 0 else widget.findText(value, Qt.MatchFlag.MatchFixedString)
            if index < 0:
                return False
            widget.setCurrentIndex(index)
            widget.activated.emit(index)
        elif isinstance(widget, QAbstractButton) and widget.isCheckable():
            widget.setChecked(value.lower() in ON_WORDS)
        elif isinstance(widget, QLineEdit):
            widget.setText(value)
            widget.editingFinished.emit()
        elif isinstance(widget, (QPlainTextEdit, QTextEdit)):
            widget.setPlainText(value)
        else:
            return False
    except ValueError:
        return False
    return True


class LearnPanel(QFrame):
    """A "Learn" toggle over a QTextBrowser showing `learn_text(key)`; objectName learnPanel.

    `settings` (the session's AppSettings; a fresh one when None) remembers whether it is
    folded; `expanded` overrides the remembered state. `fold`: "side" (a column beside the tab
    that folds to a narrow strip) or "down" (a pane in a column that folds to its header).
    `link_followed(url)` after a link worked.
    """

    link_followed = Signal(str)

    def __init__(self, key: str, parent: QWidget | None = None, *,
                 expanded: bool | None = None, settings=None, fold: str = "side") -> None:
        super().__init__(parent)
        self.fold = fold
        if settings is None:
            from gptstudio.ui.settings import AppSettings

            settings = AppSettings()
        self.key = key
        self.settings = settings
        self.setObjectName("learnPanel")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.toggle = QToolButton()
        self.toggle.setObjectName("learnToggle")
        self.toggle.setCheckable(True)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setToolTip("Show or hide the notes on this stage of building a GPT")
        self.browser = QTextBrowser()
        self.browser.setObjectName("learnText")
        self.browser.setOpenLinks(False)  # every link goes through follow()
        self.browser.setMarkdown(learn_text(key))
        self.browser.anchorClicked.connect(self.follow)
        self.note = QLabel()  # what a link could not do
        self.note.setObjectName("learnLinkNote")
        self.note.setWordWrap(True)
        self.note.hide()
        self.extra = QVBoxLayout()  # a tab's own widgets under the text
        self.extra.setContentsMargins(0, 0, 0, 0)
        self.body = QWidget()
        body = QVBoxLayout(self.body)
        body.setContentsMargins(0, 0, 0, 0)
        body.addWidget(self.browser, 1)
        body.addWidget(self.note)
        body.addLayout(self.extra)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(self.body, 1)
        if expanded is None:
            expanded = settings.value_bool(self._setting, True)
        self.toggle.toggled.connect(self.set_expanded)
        self.toggle.setChecked(expanded)
        self.set_expanded(expanded)

    @property
    def _setting(self) -> str:
        return f"learn/{self.key}/expanded"

    @property
    def expanded(self) -> bool:
        return self.toggle.isChecked()

    def add_widget(self, widget: QWidget) -> None:
        """Show `widget` under the text (folded away with it)."""
        self.extra.addWidget(widget)

    def links(self) -> list[str]:
        """Every link target in the text, in order (what `follow` may be asked)."""
        out, block = [], self.browser.document().begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                href = it.fragment().charFormat().anchorHref()
                if href and (not out or out[-1] != href):
                    out.append(href)
                it += 1
            block = block.next()
        return out

    @Slot(bool)
    def set_expanded(self, expanded: bool) -> None:
        self.toggle.setChecked(expanded)
        self.body.setVisible(expanded)
        self.browser.setVisible(expanded)  # (a folded panel's text reads as hidden)
        if self.fold == "down":
            self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded
                                     else Qt.ArrowType.RightArrow)
            self.toggle.setText("Learn")
            self.setMaximumHeight(16_777_215 if expanded else self.toggle.sizeHint().height() + 10)
            vertical = QSizePolicy.Policy.Expanding if expanded else QSizePolicy.Policy.Fixed
            self.setSizePolicy(QSizePolicy.Policy.Preferred, vertical)
        else:
            self._fold_sideways(expanded)
        if self.settings.value_bool(self._setting, True) != expanded:
            self.settings.set_value(self._setting, expanded)

    def _fold_sideways(self, expanded: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.RightArrow if expanded else Qt.ArrowType.LeftArrow)
        self.toggle.setText("Learn" if expanded else "")
        if expanded:
            self.setMinimumWidth(EXPANDED_WIDTH)
            self.setMaximumWidth(2 * EXPANDED_WIDTH + 60)
        else:
            self.setMinimumWidth(0)
            self.setMaximumWidth(self.toggle.sizeHint().width() + 10)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

    # -- links ---------------------------------------------------------------------------------
    @Slot(QUrl)
    def follow(self, url: QUrl | str) -> bool:
        """Do what a link says (see the module docstring); True if it could."""
        url = QUrl(url) if isinstance(url, str) else url
        scheme, target = url.scheme().lower(), url.path(QUrl.ComponentFormattingOption.FullyDecoded)
        if scheme in ("http", "https"):
            return QDesktopServices.openUrl(url)
        done = False
        if scheme == "widget":
            widget = find_near(self, QWidget, target)
            if widget is not None:
                flash(widget)
                done = True
            else:
                self._say(f"Nothing called “{target}” is in this window.")
        elif scheme == "set":
            name, _, value = target.partition("=")
            widget = find_near(self, QWidget, name)
            if widget is not None and widget.isEnabled() and set_control(widget, value):
                flash(widget)
                done = True
            else:
                self._say(f"Cannot set “{name}” to {value} now.")
        elif scheme == "try":
            action = find_near(self, QAction, f"learn:{target}")
            if action is not None and action.isEnabled():
                action.trigger()
                done = True
            else:
                self._say(f"“{target}” cannot be done now.")
        else:
            self._say(f"Unknown link {url.toString()}.")
        if done:
            self.note.hide()
            self.link_followed.emit(url.toString())
        return done

    def _say(self, text: str) -> None:
        log.info("learn panel %s: %s", self.key, text)
        self.note.setText(text)
        self.note.show()
