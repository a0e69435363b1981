"""The Setup tab's model box: GPT or LSTM, a preset, every field, and live estimates.

The engine decides what is valid: the box builds a `GPTConfig`/`LSTMConfig` from the fields on
every keystroke and shows the engine's `ConfigError` beside the field that caused it, then the
engine's estimate (parameters, FLOPs per token, memory) and its refusal when the model would not
fit in free memory (`check_fits`) of the device the training box names (`device`: a GPU's free
memory from its driver, the CPU's available RAM as before). Left out: training settings
(`training_box`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QGroupBox, QLabel, QSpinBox, QStackedWidget, QVBoxLayout,
    QWidget,
)

from gptstudio.core.errors import ConfigError
from gptstudio.core.model import (
    ACTIVATIONS,
    PRESETS,
    GPTConfig,
    LSTMConfig,
    check_fits,
    from_preset,
)
from gptstudio.core.model.estimate import human_bytes
from gptstudio.core.train.device import check_fits_device, device_label, free_memory, \
    resolve_device
from gptstudio.ui.widgets.form import ErrorLabel, FormGrid

if TYPE_CHECKING:
    import torch

    from gptstudio.core.model.estimate import ModelEstimate

DEFAULT_PRESET = "tiny"
GPT_INT_FIELDS = {  # field -> (label, tooltip, maximum)
    "block_size": ("Context (block_size)", "The longest context the model reads, in tokens.",
                   65536),
    "n_layer": ("Layers (n_layer)", "How many transformer blocks are stacked.", 512),
    "n_head": ("Heads (n_head)", "Attention heads per layer; must divide the width.", 512),
    "n_embd": ("Width (n_embd)", "Size of every token's vector inside the model.", 65536),
}
LSTM_INT_FIELDS = {
    "block_size": ("Window (block_size)", "Training window in tokens.", 65536),
    "n_embd": ("Embedding (n_embd)", "Size of the token embedding.", 65536),
    "n_hidden": ("Hidden size (n_hidden)", "Size of the LSTM's hidden state.", 65536),
    "n_layer": ("Layers (n_layer)", "Stacked LSTM layers.", 512),
}
LSTM_DEFAULTS = {"block_size": 64, "n_embd": 128, "n_hidden": 256, "n_layer": 2}


def _spin(maximum: int) -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(0, maximum)  # 0 is allowed on purpose: the engine explains why it is wrong
    spin.setGroupSeparatorShown(True)
    spin.setAccelerated(True)
    return spin


def _count(n: float, units: tuple[str, str, str, str] = ("", "k", "M", "B")) -> str:
    """1_234_567 -> '1.23M' (or with units=FLOP_UNITS, '1.23 MFLOP')."""
    for unit, size in ((units[3], 1e9), (units[2], 1e6), (units[1], 1e3)):
        if n >= size:
            return f"{n / size:,.2f}{unit}"
    return f"{int(n):,}{units[0]}"


FLOP_UNITS = (" FLOP", " kFLOP", " MFLOP", " GFLOP")


class ModelBox(QGroupBox):
    """Choose and size the model; `config()` returns it, or None with errors shown."""

    changed = Signal()
    preset_chosen = Signal(str)  # so the training box can take the preset's dropout

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self.vocab_size: int | None = None
        self.batch_size = 12
        self.dropout = 0.0
        self.device = "auto"  # the training box's device spec: whose memory is measured
        self._loading = False
        self.error: str | None = None  # the reason the config is refused, if it is
        self.estimate = None

        self.arch = QComboBox()
        self.arch.setObjectName("archSelector")
        self.arch.addItem("GPT (transformer)", "gpt")
        self.arch.addItem("LSTM baseline", "lstm")
        self.preset = QComboBox()
        self.preset.setObjectName("presetSelector")
        for name, cfg in PRESETS.items():
            self.preset.addItem(f"{name}  ({cfg.n_layer}×{cfg.n_embd}, ctx {cfg.block_size})",
                                name)
        self.preset_note = QLabel("Fields changed from the preset.")
        self.preset_note.hide()

        top = FormGrid()
        top.add_field("arch", "Architecture", self.arch,
                      "A GPT, or the recurrent LSTM baseline to compare it with.")
        self.preset_row = top.add_field("preset", "Preset", self.preset,
                                        "Named sizes; every field below can still be changed.")
        top.add_wide(self.preset_note)

        self.gpt_fields = {k: _spin(m) for k, (_, _, m) in GPT_INT_FIELDS.items()}
        self.bias = QCheckBox("Biases in linear layers and norms (bias)")
        self.tie = QCheckBox("Share input embedding and output head (tie_weights)")
        self.activation = QComboBox()
        self.activation.setObjectName("activationSelector")
        for name, description in ACTIVATIONS.items():
            self.activation.addItem(description, name)
        gpt_form = FormGrid()
        for key, (label, tip, _) in GPT_INT_FIELDS.items():
            gpt_form.add_field(key, label, self.gpt_fields[key], tip)
        gpt_form.add_field("activation", "Activation", self.activation,
                           "The MLP's non-linearity. GPT-2 weights need the tanh approximation; "
                           "the exact GELU is nanoGPT's choice and cheaper to compute.")
        gpt_form.add_wide(self.bias)
        gpt_form.add_wide(self.tie)
        self.gpt_form = gpt_form
        self.lstm_fields = {k: _spin(m) for k, (_, _, m) in LSTM_INT_FIELDS.items()}
        lstm_form = FormGrid()
        for key, (label, tip, _) in LSTM_INT_FIELDS.items():
            # Their own names: the GPT form has fields called n_layer, n_embd, block_size too.
            self.lstm_fields[key].setObjectName(f"lstm_{key}Field")
            lstm_form.add_field(key, label, self.lstm_fields[key], tip)
        self.lstm_form = lstm_form
        self.stack = QStackedWidget()
        for form in (gpt_form, lstm_form):
            page = QWidget()
            page.setLayout(form)
            self.stack.addWidget(page)

        self.vocab_label = QLabel()
        self.estimates = QLabel()
        self.estimates.setObjectName("modelEstimates")
        self.estimates.setWordWrap(True)
        self.refusal = ErrorLabel()
        self.refusal.setObjectName("modelRefusal")

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.stack)
        layout.addWidget(self.vocab_label)
        layout.addWidget(self.estimates)
        layout.addWidget(self.refusal)
        layout.addStretch(1)

        self.arch.currentIndexChanged.connect(self._on_arch_changed)
        self.preset.currentIndexChanged.connect(self._on_preset_changed)
        for spin in [*self.gpt_fields.values(), *self.lstm_fields.values()]:
            spin.valueChanged.connect(self._on_field_changed)
        for box in (self.bias, self.tie):
            box.toggled.connect(self._on_field_changed)
        self.activation.currentIndexChanged.connect(self._on_field_changed)
        for key, value in LSTM_DEFAULTS.items():
            self.lstm_fields[key].setValue(value)
        self.set_preset(DEFAULT_PRESET)

    # -- public --------------------------------------------------------------------------------
    def set_preset(self, name: str) -> None:
        index = self.preset.findData(name)
        if index >= 0:
            self.preset.setCurrentIndex(index)
            self._on_preset_changed()

    def preset_name(self) -> str:
        return str(self.preset.currentData())

    def set_vocab_size(self, vocab_size: int | None) -> None:
        self.vocab_size = vocab_size
        self.revalidate()

    def set_batch_size(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self.revalidate()

    def set_dropout(self, dropout: float) -> None:
        self.dropout = dropout
        self.revalidate()

    def is_lstm(self) -> bool:
        return self.arch.currentData() == "lstm"

    def config(self) -> GPTConfig | LSTMConfig | None:
        """The model to build, or None (errors shown) when the fields do not make a valid one."""
        errors, cfg, general = self._validate()
        return cfg if not errors and general is None else None

    def apply_config(self, cfg: GPTConfig | LSTMConfig) -> None:
        """Show a saved config (an opened run's) in the fields."""
        self._loading = True
        try:
            self.arch.setCurrentIndex(self.arch.findData(cfg.arch))
            fields = self.lstm_fields if isinstance(cfg, LSTMConfig) else self.gpt_fields
            for key, spin in fields.items():
                spin.setValue(int(getattr(cfg, key)))
            if isinstance(cfg, GPTConfig):
                self._show_switches(cfg)
            self.stack.setCurrentIndex(1 if isinstance(cfg, LSTMConfig) else 0)
        finally:
            self._loading = False
        self.revalidate()

    def state(self) -> dict[str, Any]:
        return {"arch": self.arch.currentData(), "preset": self.preset_name(),
                "gpt": {k: s.value() for k, s in self.gpt_fields.items()},
                "lstm": {k: s.value() for k, s in self.lstm_fields.items()},
                "bias": self.bias.isChecked(), "tie_weights": self.tie.isChecked(),
                "activation": self.activation.currentData()}

    def restore(self, state: dict[str, Any]) -> None:
        self._loading = True
        try:
            if state.get("preset") in PRESETS:
                self.preset.setCurrentIndex(self.preset.findData(state["preset"]))
            for key, spins in (("gpt", self.gpt_fields), ("lstm", self.lstm_fields)):
                for name, value in dict(state.get(key, {})).items():
                    if name in spins and isinstance(value, int):
                        spins[name].setValue(value)
            # A switch the saved state lacks keeps what its preset (set just above) says.
            self.bias.setChecked(bool(state.get("bias", self.bias.isChecked())))
            self.tie.setChecked(bool(state.get("tie_weights", self.tie.isChecked())))
            activation = self.activation.findData(state.get("activation"))
            if activation >= 0:
                self.activation.setCurrentIndex(activation)
            index = self.arch.findData(state.get("arch", "gpt"))
            self.arch.setCurrentIndex(max(index, 0))
            self.stack.setCurrentIndex(self.arch.currentIndex())
        finally:
            self._loading = False
        self.revalidate()

    # -- validation ----------------------------------------------------------------------------
    def _values(self) -> dict[str, Any]:
        if self.is_lstm():
            values: dict[str, Any] = {k: s.value() for k, s in self.lstm_fields.items()}
        else:
            values = {k: s.value() for k, s in self.gpt_fields.items()}
            values.update(bias=self.bias.isChecked(), tie_weights=self.tie.isChecked(),
                          activation=self.activation.currentData())
        values["dropout"] = self.dropout
        # Before a tokenizer exists, size the model for a byte-sized vocabulary.
        values["vocab_size"] = self.vocab_size or 256
        return values

    def _validate(self) -> tuple[dict[str, str], GPTConfig | LSTMConfig | None, str | None]:
        values = self._values()
        cls = LSTMConfig if self.is_lstm() else GPTConfig
        base = (LSTMConfig(vocab_size=values["vocab_size"], **LSTM_DEFAULTS) if self.is_lstm()
                else from_preset(self.preset_name(), vocab_size=values["vocab_size"]))
        errors: dict[str, str] = {}
        # Try each field alone on a valid base: an error then belongs to that field.
        for key in (LSTM_INT_FIELDS if self.is_lstm() else GPT_INT_FIELDS):
            try:
                base.replace(**{key: values[key]})
            except ConfigError as exc:
                errors[key] = str(exc)
        cfg = None
        general = None
        try:
            cfg = cls(**values)
        except ConfigError as exc:
            general = str(exc)
            if not errors:  # an error of a combination: show it under the last field involved
                errors["n_head" if "n_head" in str(exc) else "block_size"] = str(exc)
        return errors, cfg, general

    @Slot()
    def revalidate(self) -> None:
        errors, cfg, general = self._validate()
        form = self.lstm_form if self.is_lstm() else self.gpt_form
        form.show_errors(errors)
        self.estimate = None
        self.error = general
        if self.vocab_size:
            self.vocab_label.setText(f"Vocabulary: {self.vocab_size:,} tokens (from the tokenizer)")
        else:
            self.vocab_label.setText("Vocabulary: set by the tokenizer")
        if cfg is not None:
            try:
                self.estimate = self._check_fits(cfg)
            except ConfigError as exc:
                self.error = str(exc)
        self._show_estimate(cfg)
        # Field errors are shown beside their fields; the box-wide label says what is left:
        # a model too big for free memory, or a problem no single field explains.
        self.refusal.show_error(self.error if cfg is not None or not errors else None)
        self.changed.emit()

    def _gpu(self) -> torch.device | None:
        """The device to measure when it is not the CPU (None: the CPU, or a device this machine
        lacks, which the training box already marks)."""
        try:
            device = resolve_device(self.device)
        except ConfigError:
            return None
        return device if device.type != "cpu" else None

    def _check_fits(self, cfg: GPTConfig | LSTMConfig) -> ModelEstimate:
        gpu = self._gpu()
        if gpu is None:
            return check_fits(cfg, max(1, self.batch_size))
        return check_fits_device(cfg, max(1, self.batch_size), gpu)

    def _show_estimate(self, cfg: GPTConfig | LSTMConfig | None) -> None:
        if cfg is None:
            self.estimates.setText("")
            return
        from gptstudio.core.model import estimate

        e = self.estimate or estimate(cfg, max(1, self.batch_size))
        gpu = self._gpu()
        free = free_memory(gpu) if gpu is not None else None
        where = f"<br>Free on {device_label(gpu)}: {human_bytes(free)}" if free is not None else ""
        self.estimates.setText(
            f"<b>{_count(e.n_params)}</b> parameters "
            f"({_count(e.n_params_non_embedding)} without embeddings) · "
            f"{_count(e.flops_per_token, FLOP_UNITS)} per token<br>"
            f"Memory to train at batch {self.batch_size}: <b>{human_bytes(e.total_bytes)}</b> "
            f"(weights {human_bytes(e.weights_bytes)}, gradients {human_bytes(e.gradient_bytes)}, "
            f"Adam {human_bytes(e.optimizer_bytes)}, activations {human_bytes(e.activation_bytes)})"
            + where)

    def _show_switches(self, cfg: GPTConfig) -> None:
        """The non-numeric fields of a GPT config: biases, tying and the activation."""
        self.bias.setChecked(cfg.bias)
        self.tie.setChecked(cfg.tie_weights)
        self.activation.setCurrentIndex(max(0, self.activation.findData(cfg.activation)))

    # -- slots ---------------------------------------------------------------------------------
    @Slot()
    def _on_arch_changed(self) -> None:
        self.stack.setCurrentIndex(1 if self.is_lstm() else 0)
        self.preset.setEnabled(not self.is_lstm())
        if not self._loading:
            self.revalidate()

    @Slot()
    def _on_preset_changed(self) -> None:
        cfg = PRESETS[self.preset_name()]
        self._loading = True
        try:
            for key, spin in self.gpt_fields.items():
                spin.setValue(int(getattr(cfg, key)))
            self._show_switches(cfg)
        finally:
            self._loading = False
        self.preset_note.hide()
        self.revalidate()
        self.preset_chosen.emit(self.preset_name())

    @Slot()
    def _on_field_changed(self) -> None:
        if self._loading:
            return
        preset = PRESETS[self.preset_name()]
        modified = any(s.value() != getattr(preset, k) for k, s in self.gpt_fields.items()) or (
            self.bias.isChecked(), self.tie.isChecked(), self.activation.currentData()
        ) != (preset.bias, preset.tie_weights, preset.activation)
        self.preset_note.setVisible(modified and not self.is_lstm())
        self.revalidate()
