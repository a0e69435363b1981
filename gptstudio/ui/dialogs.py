"""The app's small dialogs: errors (non-modal), the close question, About, keyboard shortcuts.

Errors are shown in a non-modal QMessageBox, so a failing worker never blocks the event loop and
tests can find the box (objectName `errorDialog`) and close it. Questions that must block (save
before closing?) go through `ask_save_before_close`, one function tests can replace.
Left out: what the errors are (the Session reports them).
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

import gptstudio

SAVE, DISCARD, CANCEL = "save", "discard", "cancel"

def show_error(parent: QWidget, title: str, message: str) -> QMessageBox:
    """A non-modal warning; returns the box (it deletes itself when closed)."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok,
                      parent)
    box.setObjectName("errorDialog")
    box.setWindowModality(Qt.WindowModality.NonModal)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    return box


def ask_save_before_close(parent: QWidget) -> str:
    """SAVE, DISCARD or CANCEL: training is running and the window is closing."""
    box = QMessageBox(QMessageBox.Icon.Question, "Training is running",
                      "Training is still running. Save a checkpoint before closing?",
                      QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                      | QMessageBox.StandardButton.Cancel, parent)
    box.setObjectName("closeQuestion")
    box.setDefaultButton(QMessageBox.StandardButton.Save)
    answer = box.exec()
    if answer == QMessageBox.StandardButton.Save:
        return SAVE
    if answer == QMessageBox.StandardButton.Discard:
        return DISCARD
    return CANCEL


def show_about(parent: QWidget) -> None:
    QMessageBox.about(
        parent, "About GPT Studio",
        f"<h3>GPT Studio {gptstudio.__version__}</h3>"
        "<p>Build a GPT-style language model from scratch and watch it learn: choose a corpus "
        "and a tokenizer, size a model, train it, and see the loss fall and the samples turn "
        "from noise into words.</p><p>PyTorch · PySide6 · pyqtgraph · tiktoken</p>")


def show_shortcuts(parent: QWidget, shortcuts: list[tuple[str, str]]) -> QMessageBox:
    """A non-modal list of (keys, what they do)."""
    rows = "".join(f"<tr><td><b>{k}</b>&nbsp;&nbsp;</td><td>{v}</td></tr>" for k, v in shortcuts)
    box = QMessageBox(QMessageBox.Icon.NoIcon, "Keyboard shortcuts", f"<table>{rows}</table>",
                      QMessageBox.StandardButton.Close, parent)
    box.setObjectName("shortcutsDialog")
    box.setWindowModality(Qt.WindowModality.NonModal)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.show()
    return box
