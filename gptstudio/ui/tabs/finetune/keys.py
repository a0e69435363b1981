"""Ctrl+Enter inside the Fine-tune tab starts the fine-tune (elsewhere it is the Train tab's
Start): the tab claims the key before the window's shortcut sees it.

Left out: what starting does (the tab's `start`).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent


def is_start_key(event: QKeyEvent) -> bool:
    return (event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
            and bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier))


class StartKey:
    """A mixin for the tab (before QWidget in its bases): Ctrl+Enter presses its enabled
    `start_button` through `start()`."""

    def event(self, event: QEvent) -> bool:
        if event.type() == QEvent.Type.ShortcutOverride and is_start_key(event):
            event.accept()  # claimed before the window's shortcut: it comes as a key press
            return True
        return super().event(event)  # type: ignore[misc]

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        if is_start_key(event):
            event.accept()
            if self.start_button.isEnabled():  # type: ignore[attr-defined]
                self.start()  # type: ignore[attr-defined]
            return
        super().keyPressEvent(event)  # type: ignore[misc]
