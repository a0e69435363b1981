"""The Setup tab's training box: steps, batch, learning-rate schedule, regularisation, cadence.

Values are typed as text; the box parses them and lets the engine's `TrainConfig` judge them,
showing each `ConfigError` beside the field that caused it. The defaults here are the app's
"press Start and watch it learn within a minute" settings, not the engine's long classic run.
Dropout is a model setting (`GPTConfig.dropout`), typed here with the other regularisers.
Left out: the model's shape (`model_box`).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLineEdit, QVBoxLayout, QWidget

from gptstudio.core.errors import ConfigError
from gptstudio.core.model import from_preset
from gptstudio.core.train.config import COMPILE_MODES, PRECISIONS, TrainConfig
from gptstudio.core.train.device import device_choices, resolve_device
from gptstudio.ui.widgets.form import ErrorLabel, FormGrid, number_edit, parse_float, parse_int

# The app's defaults: a tiny model on the fables learns words within a minute on a laptop CPU.
APP_DEFAULTS = TrainConfig(
    max_steps=2000, batch_size=16, learning_rate=2e-3, min_lr=2e-4, warmup_steps=50,
    weight_decay=0.1, grad_clip=1.0, eval_interval=100, eval_iters=20, sample_interval=100,
    sample_prompt="\n", sample_tokens=160, checkpoint_interval=500, seed=1337,
)
DEFAULT_DROPOUT = 0.0

# field -> (label, parser, tooltip)
FIELDS: dict[str, tuple[str, str, str]] = {
    "max_steps": ("Steps", "int", "Optimizer steps in the whole run."),
    "batch_size": ("Batch size", "int", "Sequences per step (each block_size tokens long)."),
    "learning_rate": ("Learning rate", "float", "Peak learning rate, reached after warmup."),
    "min_lr": ("Final learning rate", "float", "The cosine schedule decays to this value."),
    "warmup_steps": ("Warmup steps", "int", "Steps of linear warmup from 0 to the peak rate."),
    "weight_decay": ("Weight decay", "float", "AdamW's decoupled decay on weight matrices."),
    "beta1": ("Adam β1", "float", "AdamW's decay rate of the gradient's running mean."),
    "beta2": ("Adam β2", "float", "AdamW's decay rate of the squared gradient's running mean."),
    "dropout": ("Dropout", "float", "Share of activations zeroed while training (0 to <1)."),
    "grad_clip": ("Gradient clip", "float", "Clip the gradient norm to this (0: no clipping)."),
    "eval_interval": ("Evaluate every", "int",
                      "Steps between evaluations; a text sample is made at each one."),
    "eval_iters": ("Eval batches", "int", "Batches averaged per split in an evaluation."),
    "checkpoint_interval": ("Checkpoint every", "int",
                            "Steps between automatic checkpoints (0: only at the end)."),
    "sample_prompt": ("Sample prompt", "text",
                      "The text each sample continues; write a newline as \\n."),
    "precision": ("Precision", "choice", "bf16 autocast is faster on CPUs with bf16 matmul; "
                  "auto picks what is fastest here."),
    "compile": ("torch.compile", "choice", "Compiling takes a while at start and may pay off "
                "on long runs; auto decides."),
    "device": ("Device", "choice", "Where to train: auto picks a CUDA GPU, then Apple's GPU "
               "(mps), then the CPU. Checkpoints load on any device."),
    "seed": ("Seed", "int", "Seeds the data order, dropout and samples: same seed, same run."),
}


RIGHT_COLUMN = ("eval_interval", "eval_iters", "checkpoint_interval", "sample_prompt", "precision",
                "compile", "device", "seed")
CHOICES = {"precision": PRECISIONS, "compile": COMPILE_MODES, "device": device_choices()}


class TrainingBox(QGroupBox):
    """`config()` returns a TrainConfig, or None with the errors shown beside the fields."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Training", parent)
        # Two columns keep the form short: the schedule on the left, the cadence on the right.
        self.form = FormGrid()
        right = FormGrid()
        self.edits: dict[str, QLineEdit | QComboBox] = {}
        for key, (label, kind, tip) in FIELDS.items():
            if kind == "choice":
                editor: QLineEdit | QComboBox = QComboBox()
                for value in CHOICES[key]:
                    editor.addItem(value, value)
                editor.currentIndexChanged.connect(self._on_edited)
            else:
                editor = number_edit() if kind != "text" else QLineEdit()
                editor.textChanged.connect(self._on_edited)
            form = right if key in RIGHT_COLUMN else self.form
            form.add_field(key, label, editor, tip)
            self.edits[key] = editor
        self.form.errors.update(right.errors)
        self._right = right
        self.general = ErrorLabel()
        self.general.setObjectName("trainingError")
        columns = QHBoxLayout()
        columns.addLayout(self.form, 1)
        columns.addSpacing(12)
        columns.addLayout(right, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(columns)
        layout.addWidget(self.general)
        layout.addStretch(1)
        self.errors: dict[str, str] = {}
        self._train_config: TrainConfig | None = None
        self.dropout: float | None = DEFAULT_DROPOUT
        self.apply(APP_DEFAULTS, DEFAULT_DROPOUT)

    # -- reading and writing -------------------------------------------------------------------
    def texts(self) -> dict[str, str]:
        out = {}
        for key, editor in self.edits.items():
            out[key] = (str(editor.currentData()) if isinstance(editor, QComboBox)
                        else editor.text())
        return out

    def apply(self, config: TrainConfig, dropout: float | None = None) -> None:
        """Show a config (the defaults, or an opened run's)."""
        for key, editor in self.edits.items():
            editor.blockSignals(True)
            if key == "dropout":
                if dropout is not None:
                    editor.setText(_fmt(dropout))
            elif isinstance(editor, QComboBox):
                editor.setCurrentIndex(max(0, editor.findData(getattr(config, key))))
            elif FIELDS[key][1] == "text":
                editor.setText(escape(getattr(config, key)))
            else:
                editor.setText(_fmt(getattr(config, key)))
            editor.blockSignals(False)
        self.revalidate()

    def set_dropout(self, dropout: float) -> None:
        self.edits["dropout"].setText(_fmt(dropout))

    def set_field(self, key: str, text: str) -> None:
        """Type `text` into a field (tests and restored settings use this)."""
        editor = self.edits[key]
        if isinstance(editor, QComboBox):
            editor.setCurrentIndex(max(0, editor.findData(text)))
        else:
            editor.setText(text)

    def state(self) -> dict[str, str]:
        return self.texts()

    def restore(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            if key in self.edits and isinstance(value, str):
                self.set_field(key, value)
        self.revalidate()

    def config(self) -> TrainConfig | None:
        return self._train_config

    def batch_size(self) -> int | None:
        return self._train_config.batch_size if self._train_config else _try_int(
            self.texts()["batch_size"])

    # -- validation ----------------------------------------------------------------------------
    def _parse(self) -> tuple[dict[str, Any], dict[str, str]]:
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for key, text in self.texts().items():
            label, kind, _ = FIELDS[key]
            try:
                if kind == "int":
                    values[key] = parse_int(text, label)
                elif kind == "float":
                    values[key] = parse_float(text, label)
                elif kind == "text":
                    values[key] = unescape(text)
                else:
                    values[key] = text
            except ValueError as exc:
                errors[key] = str(exc)
        return values, errors

    @Slot()
    def revalidate(self) -> None:
        values, errors = self._parse()
        dropout = values.pop("dropout", None)
        if "dropout" not in errors and dropout is not None:
            try:  # the model config owns dropout's rule
                from_preset("nano", dropout=dropout)
            except ConfigError as exc:
                errors["dropout"] = str(exc)
        self.dropout = dropout if "dropout" not in errors else None
        # Samples are made at each evaluation, so the two cadences are one field.
        if "eval_interval" in values:
            values["sample_interval"] = values["eval_interval"]
        # Judge each field alone on valid defaults: an error then belongs to that field.
        for key, value in values.items():
            if key in errors or key == "sample_interval":
                continue
            try:
                APP_DEFAULTS.replace(**{key: value})
                if key == "device":
                    resolve_device(value)  # is it on this machine? (the error says what to use)
            except ConfigError as exc:
                errors[key] = str(exc)
        general = None
        self._train_config = None
        if not errors:
            try:
                self._train_config = APP_DEFAULTS.replace(**values)
            except ConfigError as exc:  # a combination, e.g. min_lr above learning_rate
                general = str(exc)
        self.errors = dict(errors)
        if general:
            self.errors["general"] = general
        self.form.show_errors(errors)  # holds the right column's error labels too
        self.general.show_error(general)
        self.changed.emit()

    @Slot()
    def _on_edited(self) -> None:
        self.revalidate()


def escape(text: str) -> str:
    """Show newlines and tabs of a prompt as \\n and \\t in a one-line field."""
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t")


def unescape(text: str) -> str:
    """Inverse of `escape`."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in "nt\\":
            out.append({"n": "\n", "t": "\t", "\\": "\\"}[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _try_int(text: str) -> int | None:
    try:
        return parse_int(text, "")
    except ValueError:
        return None
