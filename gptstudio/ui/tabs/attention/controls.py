"""The Attention tab's controls: what to look at (model, prompt, head, ideal pattern), the
recorded steps (slider, pin to compare), and what to record while training.

These widgets hold no state of their own beyond their fields; they say what the user did
through signals, and the tab decides. Typing in the prompt asks for a view after a short pause
(and at once on Enter), so a long prompt is not recomputed on every keystroke.
Left out: what happens then (the tab), and checking values (the engine, through the tab).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QGridLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton, QSlider,
    QWidget,
)

from gptstudio.core.corpora.synthetic import TASKS
from gptstudio.ui.widgets.form import ErrorLabel

TYPING_PAUSE_MS = 350


class ViewControls(QWidget):
    """Model, prompt, ideal task, logit lens, layer and head."""

    prompt_submitted = Signal(str)
    source_chosen = Signal(int)  # index in the source list
    task_chosen = Signal(str)  # "" = none
    example_requested = Signal()
    lens_toggled = Signal(bool)
    head_chosen = Signal(int, int)  # layer, head (from 0)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = QComboBox()
        self.source.setObjectName("attentionSource")
        self.source.setToolTip("Whose attention: the live run, a checkpoint, or the probe "
                               "recorded during training (then the step slider scrubs it)")
        self.source.setMinimumContentsLength(18)
        self.prompt = QLineEdit()
        self.prompt.setObjectName("attentionPrompt")
        self.prompt.setPlaceholderText("Type a prompt to see how the model attends to it")
        self.prompt.setClearButtonEnabled(True)
        self.show_button = QPushButton("Show")
        self.show_button.setObjectName("showAttentionButton")
        self.error = ErrorLabel()
        self.error.setObjectName("attentionPromptError")
        self.note = QLabel()  # where the view comes from, cropping, ...
        self.note.setObjectName("attentionNote")
        self.note.setWordWrap(True)
        self.task = QComboBox()
        self.task.setObjectName("idealTaskSelector")
        self.task.addItem("No ideal pattern", "")
        for task in TASKS:
            self.task.addItem(f"Ideal: {task}", task)
        self.task.setToolTip("Overlay the attention a perfect model of a synthetic task would "
                             "have (red squares), and score each head against it")
        self.example = QPushButton("Example")
        self.example.setObjectName("taskExampleButton")
        self.example.setToolTip("Put an example line of the chosen task in the prompt")
        self.lens = QCheckBox("Logit lens")
        self.lens.setObjectName("logitLensToggle")
        self.lens.setToolTip("Also read the next-token guess after every layer (slower)")
        self.layer = QComboBox()
        self.layer.setObjectName("layerSelector")
        self.head = QComboBox()
        self.head.setObjectName("headSelector")
        for box, what in ((self.layer, "layer"), (self.head, "head")):
            box.setToolTip(f"The {what} shown in the big heatmap (arrow keys work)")
            box.setMinimumContentsLength(8)

        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.addWidget(QLabel("Prompt"), 0, 0)
        grid.addWidget(self.prompt, 0, 1)
        grid.addWidget(self.show_button, 0, 2)
        grid.addWidget(QLabel("Model"), 0, 3)
        grid.addWidget(self.source, 0, 4)
        grid.addWidget(self.error, 1, 1, 1, 4)
        row = QHBoxLayout()
        for widget in (self.task, self.example, self.lens):
            row.addWidget(widget)
        row.addSpacing(12)
        for widget in (QLabel("Layer"), self.layer, QLabel("Head"), self.head):
            row.addWidget(widget)
        row.addSpacing(12)
        row.addWidget(self.note, 1)
        grid.addLayout(row, 2, 0, 1, 5)
        grid.setColumnStretch(1, 1)

        self._typing = QTimer(self)
        self._typing.setSingleShot(True)
        self._typing.setInterval(TYPING_PAUSE_MS)
        self._typing.timeout.connect(self._on_submit)
        self.prompt.textEdited.connect(self._typing.start)
        self.prompt.returnPressed.connect(self._on_submit)
        self.show_button.clicked.connect(self._on_submit)
        self.source.activated.connect(self.source_chosen)
        self.task.currentIndexChanged.connect(self._on_task)
        self.example.clicked.connect(self.example_requested)
        self.lens.toggled.connect(self.lens_toggled)
        self.layer.currentIndexChanged.connect(self._on_head)
        self.head.currentIndexChanged.connect(self._on_head)

    def set_shape(self, n_layer: int, n_head: int) -> None:
        """Fill the layer and head selectors (keeping the choice where it still exists)."""
        for box, n, word in ((self.layer, n_layer, "Layer"), (self.head, n_head, "Head")):
            if box.count() != n:
                keep = box.currentIndex()
                box.blockSignals(True)
                box.clear()
                box.addItems([f"{word} {i + 1}" for i in range(n)])
                box.setCurrentIndex(min(max(keep, 0), n - 1))
                box.blockSignals(False)

    def set_head(self, layer: int, head: int) -> None:
        for box, value in ((self.layer, layer), (self.head, head)):
            box.blockSignals(True)
            box.setCurrentIndex(value)
            box.blockSignals(False)

    def set_task(self, task: str) -> None:
        self.task.setCurrentIndex(max(0, self.task.findData(task)))

    @property
    def current_task(self) -> str:
        return str(self.task.currentData() or "")

    @Slot()
    def _on_submit(self) -> None:
        self._typing.stop()
        self.prompt_submitted.emit(self.prompt.text())

    @Slot(int)
    def _on_task(self, _index: int) -> None:
        self.example.setEnabled(bool(self.current_task))
        self.task_chosen.emit(self.current_task)

    @Slot(int)
    def _on_head(self, _index: int) -> None:
        if self.layer.currentIndex() >= 0 and self.head.currentIndex() >= 0:
            self.head_chosen.emit(self.layer.currentIndex(), self.head.currentIndex())


class StepControls(QWidget):
    """The recorded steps: `attentionStepSlider`, what it shows, and "Pin to compare"."""

    step_moved = Signal(int)  # index into the recorded steps
    pin_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("attentionStepSlider")
        self.slider.setToolTip("Scrub the steps at which attention was recorded during training")
        self.slider.setRange(0, 0)
        self.slider.setPageStep(1)
        self.label = QLabel("No attention recorded yet")
        self.label.setObjectName("attentionStepLabel")
        self.label.setMinimumWidth(240)
        self.pin = QPushButton("Pin to compare")
        self.pin.setObjectName("pinButton")
        self.pin.setCheckable(True)
        self.pin.setToolTip("Keep this heatmap beside the live one: then choose another step or "
                            "another head to compare with it")
        self.error = ErrorLabel()
        self.error.setObjectName("attentionStepError")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Recorded steps"))
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.label)
        layout.addWidget(self.error)
        layout.addWidget(self.pin)
        self.slider.valueChanged.connect(self.step_moved)
        self.pin.toggled.connect(self.pin_toggled)

    def set_steps(self, steps: list[int], index: int) -> None:
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(steps) - 1))
        self.slider.setValue(max(0, index))
        self.slider.blockSignals(False)
        self.slider.setEnabled(len(steps) > 0)

    def show_count(self, steps: list[int]) -> None:
        """The label while no recorded step is shown: how many there are."""
        self.label.setText(f"{len(steps):,} recorded, the latest at step {steps[-1]:,}: move "
                           "the slider to see them" if steps else "No attention recorded yet")

    def show_step(self, steps: list[int], index: int, prompt: str) -> None:
        if not steps:
            self.label.setText("No attention recorded yet")
            return
        probe = prompt if len(prompt) <= 28 else prompt[:27] + "…"
        self.label.setText(f"step {steps[index]:,} ({index + 1} of {len(steps)}) · “{probe}”")


class RecordControls(QWidget):
    """What the next training run records: on/off, the probe prompt, every N steps."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.enabled = QCheckBox("Record while training:")
        self.enabled.setObjectName("recordAttentionToggle")
        self.enabled.setChecked(True)
        self.enabled.setToolTip("Record the attention on a probe prompt every N steps into the "
                                "run folder, to watch heads form (and replay an opened run)")
        self.probe = QLineEdit()
        self.probe.setObjectName("probePrompt")
        self.probe.setPlaceholderText("probe prompt")
        self.every = QLineEdit("auto")
        self.every.setObjectName("recordEvery")
        self.every.setMaximumWidth(70)
        self.every.setToolTip("Steps between records, or auto: every 10 steps or less often, so "
                              "that recording takes under 2% of the training time")
        self.error = ErrorLabel()
        self.error.setObjectName("recordError")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.enabled)
        layout.addWidget(self.probe, 1)
        layout.addWidget(QLabel("every"))
        layout.addWidget(self.every)
        layout.addWidget(QLabel("steps"))
        layout.addWidget(self.error, 1)
        self.user_edited = False  # a probe typed by the user is never replaced by a default
        self.probe.textEdited.connect(self._on_edited)
        self.every.editingFinished.connect(self.changed)
        self.enabled.toggled.connect(self.changed)

    @Slot()
    def _on_edited(self) -> None:
        self.user_edited = True
        self.changed.emit()

    def set_default_probe(self, prompt: str) -> None:
        if not self.user_edited:
            self.probe.setText(prompt)
            self.changed.emit()
