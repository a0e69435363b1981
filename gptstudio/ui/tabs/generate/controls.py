"""`SamplingControls`: temperature, top-k, top-p, token limit, seed, stop strings, precision.

The fields read as `gptstudio sample`'s options do, and build the engine's `SamplingConfig`; a
value the engine refuses (a negative temperature, a top-p above 1) is shown beside its field in
the engine's own words, and `config()` is None until it is fixed. The spin boxes therefore
allow a little more than is valid: typing 1.5 as top-p must say why it is refused, not be
silently clamped. Specials: top-k 0 is "off"; top-p 1 cuts nothing; seed -1 is "random"
(a fresh seed each time). `changed` fires on every edit. Left out: what the tab does with it.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractSpinBox, QCheckBox, QDoubleSpinBox, QGridLayout, QLabel, QLineEdit, QSpinBox,
    QWidget,
)

from gptstudio.core.errors import ConfigError
from gptstudio.core.generation import parse_stop_strings
from gptstudio.core.sampling import SamplingConfig
from gptstudio.ui.widgets.form import ErrorLabel

MAX_SEED = 2**31 - 1


def _spin(name: str, low: float, high: float, value: float, *, step: float = 1.0,
          decimals: int | None = None, special: str = "", tip: str = "") -> QAbstractSpinBox:
    box: QAbstractSpinBox = QDoubleSpinBox() if decimals is not None else QSpinBox()
    if decimals is not None:
        box.setDecimals(decimals)
    box.setRange(low, high)
    box.setSingleStep(step)
    box.setValue(value)
    box.setObjectName(name)
    box.setKeyboardTracking(True)
    box.setAccelerated(True)
    if special:
        box.setSpecialValueText(special)
    box.setToolTip(tip)
    return box


class SamplingControls(QWidget):
    """See the module docstring."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.temperature = _spin(
            "temperatureSpin", -10.0, 100.0, 0.8, step=0.1, decimals=2,
            tip="Divides the model's scores before the softmax: below 1 sharpens the "
                "distribution, above 1 flattens it; 0 is greedy (always the most likely token)")
        self.top_k = _spin("topKSpin", 0, 1_000_000, 0, special="off",
                           tip="Keep only the k most likely tokens (off: keep all)")
        self.top_p = _spin("topPSpin", 0.0, 2.0, 1.0, step=0.05, decimals=2,
                           tip="Keep the fewest most likely tokens whose probabilities add up "
                               "to p (1: keep all)")
        self.max_tokens = _spin("maxTokensSpin", 0, 100_000, 200, step=10,
                                tip="How many new tokens to generate at most")
        self.seed = _spin("seedSpin", -1, MAX_SEED, 42, special="random",
                          tip="The same seed and settings give the same text as "
                              "`gptstudio sample --seed`; random: a new draw each time")
        self.stop = QLineEdit()
        self.stop.setObjectName("stopInput")
        self.stop.setPlaceholderText(r"e.g. \n\n, THE END")
        self.stop.setToolTip(r"Stop before any of these strings: separate them with commas; "
                             r"\n is a newline, \t a tab, \, a comma")
        self.bf16 = QCheckBox("bf16 weights")
        self.bf16.setObjectName("bf16Check")
        self.bf16.setToolTip("Generate with bfloat16 copies of the weights: faster on most "
                             "CPUs, and the same greedy choices except at near-ties")
        self.errors: dict[str, ErrorLabel] = {}
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(2)
        fields = [("temperature", "Temperature", self.temperature), ("top_k", "Top-k", self.top_k),
                  ("top_p", "Top-p", self.top_p), ("max_new_tokens", "Max tokens",
                                                   self.max_tokens),
                  ("seed", "Seed", self.seed), ("stop_strings", "Stop at", self.stop)]
        for column, (key, label, editor) in enumerate(fields):
            caption = QLabel(label)
            caption.setBuddy(editor)
            error = ErrorLabel()
            error.setObjectName(f"{key}Error")
            self.errors[key] = error
            grid.addWidget(caption, 0, column)
            grid.addWidget(editor, 1, column)
            grid.addWidget(error, 2, column)
            editor_signal = editor.textChanged if isinstance(editor, QLineEdit) \
                else editor.valueChanged
            editor_signal.connect(self._on_edited)
        grid.addWidget(self.bf16, 1, len(fields))
        grid.setColumnStretch(len(fields) - 1, 2)
        self.bf16.toggled.connect(self._on_edited)
        self._config: SamplingConfig | None = None
        self._validate()

    # -- reading -------------------------------------------------------------------------------
    def values(self) -> dict:
        """The fields as SamplingConfig arguments (before validation)."""
        top_p = round(self.top_p.value(), 4)
        return {
            "temperature": round(self.temperature.value(), 4),
            "top_k": self.top_k.value() or None,
            "top_p": None if top_p == 1.0 else top_p,
            "max_new_tokens": self.max_tokens.value(),
            "seed": None if self.seed.value() < 0 else self.seed.value(),
            "stop_strings": parse_stop_strings(self.stop.text()),
        }

    def config(self, **overrides) -> SamplingConfig | None:
        """The engine's config for these fields (with `overrides`), or None while one is
        refused."""
        if self._config is None:
            return None
        return self._config if not overrides else SamplingConfig(**{**self.values(),
                                                                     **overrides})

    @property
    def precision(self) -> str:
        return "bf16" if self.bf16.isChecked() else "fp32"

    def problems(self) -> dict[str, str]:
        return {k: e.text() for k, e in self.errors.items() if e.text()}

    # -- validation: each field alone, so the message goes beside the right one ------------------
    def _validate(self) -> None:
        values = self.values()
        messages: dict[str, str] = {}
        for key, value in values.items():
            try:
                SamplingConfig(**{key: value})
            except ConfigError as exc:
                messages[key] = str(exc)
        for key, label in self.errors.items():
            label.show_error(messages.get(key))
        self._config = None if messages else SamplingConfig(**values)

    def _on_edited(self, *_: object) -> None:  # GUI-thread signals of its own fields only
        self._validate()
        self.changed.emit()
