"""Point at a widget: a coloured frame drawn over it, and bringing it into view first.

`flash(widget)` draws a frame over `widget` for a moment and removes it by itself (a learn
panel's link); `Highlight(widget)` stays until `clear()` (a tour step). Neither blocks anything:
the frame is a child of the widget's window that lets every mouse event through, and follows the
widget while it moves or hides with it. `reveal(widget)` first makes the widget visible: the tab
page or stacked page that holds it becomes the current one, and scroll areas scroll to it.
Left out: which widget to point at (the learn panel's links, the tour's steps).
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, Qt, QTimer
from PySide6.QtGui import QColor, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QScrollArea, QStackedWidget, QWidget

FLASH_MS = 1800  # how long a link's frame stays
FOLLOW_MS = 150  # how often a frame checks where its widget went (splitters, layouts move it)
MARGIN = 3  # pixels of frame outside the widget


def reveal(widget: QWidget) -> None:
    """Make the pages that hold `widget` current (tabs, stacked pages) and scroll it into view."""
    child: QWidget = widget
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent, QStackedWidget) and parent.indexOf(child) >= 0:
            parent.setCurrentWidget(child)  # a QTabWidget's pages live in a QStackedWidget
        child, parent = parent, parent.parentWidget()
    ancestor = widget.parentWidget()
    while ancestor is not None:
        if isinstance(ancestor, QScrollArea) and ancestor.widget() is not None \
                and ancestor.widget().isAncestorOf(widget):
            ancestor.ensureWidgetVisible(widget)
        ancestor = ancestor.parentWidget()


class Highlight(QWidget):
    """A frame over `target`, drawn in the palette's highlight colour; objectName highlightFrame.

    It lives on the target's window, so it is drawn above the target and its neighbours, and
    it is transparent to the mouse. `duration_ms`: remove itself after that long (None: stays
    until `clear()`).
    """

    def __init__(self, target: QWidget, *, duration_ms: int | None = None) -> None:
        window = target.window()
        super().__init__(window)
        self.setObjectName("highlightFrame")
        self.target: QWidget | None = target
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._timer = QTimer(self)
        self._timer.setInterval(FOLLOW_MS)
        self._timer.timeout.connect(self.follow)
        self._timer.start()
        target.destroyed.connect(self.clear)
        if duration_ms is not None:
            QTimer.singleShot(duration_ms, self, self.clear)
        self.follow()

    def target_rect(self) -> QRect:
        """Where the frame goes, in the window's coordinates."""
        assert self.target is not None
        top_left = self.target.mapTo(self.parentWidget(), QPoint(0, 0))
        rect = QRect(top_left, self.target.size())
        return rect.adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN)

    def follow(self) -> None:
        """Move to the target's place; hide while the target is not visible."""
        if self.target is None:
            return
        if not self.target.isVisible():
            self.hide()
            return
        rect = self.target_rect()
        if rect != self.geometry() or not self.isVisible():
            self.setGeometry(rect)
            self.show()
            self.raise_()  # above widgets made after it (only when it moves: a restack repaints)

    def clear(self) -> None:
        """Remove the frame (safe to call twice)."""
        self.target = None
        self._timer.stop()
        self.hide()
        self.deleteLater()

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 (Qt's name)
        color = self.palette().color(QPalette.ColorRole.Highlight)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        fill = QColor(color)
        fill.setAlpha(28)
        painter.setBrush(fill)
        painter.setPen(QPen(color, 3))
        painter.drawRoundedRect(self.rect().adjusted(2, 2, -2, -2), 5, 5)
        painter.end()


def flash(widget: QWidget, duration_ms: int = FLASH_MS) -> Highlight:
    """Bring `widget` into view and frame it for a moment."""
    reveal(widget)
    return Highlight(widget, duration_ms=duration_ms)


def highlights(window: QWidget) -> list[Highlight]:
    """The frames currently on `window` that still point at a widget."""
    return [h for h in window.findChildren(Highlight) if h.target is not None]
