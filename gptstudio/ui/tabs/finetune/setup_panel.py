"""The Fine-tune tab's left column: the options, what trains, Start/Pause/Stop, the examples.

Only widgets: the tab fills them from core's preview and the training service's state.
Left out: what the fields mean (`options.py`), how the examples are drawn (`mask_view.py`).
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from gptstudio.ui.tabs.finetune.mask_view import MaskPreview
from gptstudio.ui.tabs.finetune.options import OptionsBox
from gptstudio.ui.widgets.form import ErrorLabel


def _label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(name)
    label.setWordWrap(True)
    return label


def _button(text: str, name: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    return button


class SetupPanel(QWidget):
    """Options, trainable count (`trainableLabel`), data summary (`dataSummary`), the error
    (`finetuneError`), the buttons, the state (`finetuneStateLabel`) and `maskPreview`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.options = OptionsBox()
        self.trainable = _label("trainableLabel")
        self.summary = _label("dataSummary")
        self.error = ErrorLabel()
        self.error.setObjectName("finetuneError")
        self.start_button = _button("Start fine-tuning", "finetuneStartButton")
        self.pause_button = _button("Pause", "finetunePauseButton")
        self.stop_button = _button("Stop", "finetuneStopButton")
        self.state_label = _label("finetuneStateLabel")
        self.mask = MaskPreview()
        buttons = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.stop_button):
            buttons.addWidget(button)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        for widget in (self.options, self.trainable, self.summary, self.error):
            column.addWidget(widget)
        column.addLayout(buttons)
        column.addWidget(self.state_label)
        column.addWidget(QLabel("<b>Training examples, as the loss sees them</b>"))
        column.addWidget(self.mask, 1)
