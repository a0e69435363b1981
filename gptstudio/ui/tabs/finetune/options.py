"""The Fine-tune tab's options: base run, task, data file, what trains, LoRA, and how long.

The box turns its fields into the engine's `FinetuneSpec` and `TrainConfig` (`spec()`,
`train_config()`); whether they make sense is the engine's call, and its `ConfigError` is
shown by the tab. Defaults are the book's (`DEFAULT_TRAIN_LAST`, `default_train_config`): the
last block for a classifier, every block for instructions, learning rate 5e-5 (LoRA 5e-4).
Data: the shipped sets, `builtin:authors` for classification and the book's instruction data
(`builtin:instructions`, Apache-2.0, see resources/finetune/NOTICE) for instructions.
Left out: the preview and training (the tab and its lab).
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

from PySide6.QtCore import Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout,
    QLineEdit, QPushButton, QSpinBox, QWidget,
)

from gptstudio.core.errors import GPTStudioError
from gptstudio.core.finetune import DEFAULT_TRAIN_LAST, FinetuneSpec, LoRAConfig, \
    default_train_config
from gptstudio.core.finetune.preview import FinetunePreview
from gptstudio.core.train import Run, TrainConfig
from gptstudio.core.train.config import check_learning_rate

BROWSE = "__browse__"
BUILTIN_AUTHORS = "builtin:authors"
BUILTIN_INSTRUCTIONS = "builtin:instructions"
BUILTIN_LABELS = {BUILTIN_AUTHORS: "authors.tsv (built in: who wrote it?)",
                  BUILTIN_INSTRUCTIONS: "instruction-data.json (built in: the book's)"}
DEFAULT_EPOCHS = {"classification": 5.0, "instructions": 2.0}  # the book's
EVALS_PER_EPOCH = 4  # evaluations (accuracy points) per pass over the training split
DATA_FILTERS = {"classification": "Labelled texts (*.tsv *.csv *.txt);;All files (*)",
                "instructions": "Instruction records (*.json *.jsonl);;All files (*)"}


def base_run_choices(paths: list[Path]) -> list[tuple[str, Path]]:
    """(label, path) of the runs among `paths` that can be a fine-tune's base: GPT runs that
    are not classifiers (pretrained runs, GPT-2 imports, instruction fine-tunes)."""
    out, seen = [], set()
    for path in paths:
        key = Path(path).resolve()
        if key in seen or not Run.exists(path):
            continue
        seen.add(key)
        try:
            run = Run.open(path)
        except GPTStudioError:
            continue
        task = run.data_config.get("task")
        if task == "classification" or run.model_config_dict.get("arch") == "lstm":
            continue
        note = " (GPT-2 import)" if run.data_config.get("imported_from") else \
            " (instruction fine-tune)" if task == "instructions" else ""
        out.append((f"{run.path.name}{note}", run.path))
    return out


def new_finetune_dir(root: Path, task: str, data: str) -> Path:
    """A fresh run folder in `root` for a fine-tune of `task` on `data`."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    name = Path(data.split(":")[-1]).stem[:24] or "data"
    base = f"{stamp}-{'classify' if task == 'classification' else 'instruct'}-{name}"
    path, n = root / base, 2
    while path.exists():  # two starts within one second
        path, n = root / f"{base}-{n}", n + 1
    return path


def preview_texts(preview: FinetunePreview) -> tuple[str, str]:
    """(what trains, the data's summary) as the tab shows them."""
    share = preview.n_trainable / preview.n_params if preview.n_params else 0.0
    trainable = (f"<b>{preview.n_trainable:,}</b> of {preview.n_params:,} parameters train "
                 f"({share:.2%}); the rest stay frozen.")
    s = preview.summary
    parts = [f"{s.get('n_train', 0)} train / {s.get('n_val', 0)} validation / "
             f"{s.get('n_test', 0)} test examples"]
    if preview.labels:
        parts.append(f"labels {', '.join(preview.labels)}; texts of at most "
                     f"{s.get('max_length')} tokens")
    truncated = sum(int(s.get(f"truncated_{n}", 0)) for n in ("train", "val", "test"))
    if truncated:
        parts.append(f"{truncated} cut to fit")
    return trainable, "; ".join(parts) + "."


class OptionsBox(QGroupBox):
    """The fields; `changed` when the preview must be recomputed."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Fine-tune", parent)
        self.base = QComboBox()
        self.base.setObjectName("baseRunSelector")
        self.base.setToolTip("The pretrained run to start from: one of yours, or a GPT-2 import")
        self.base.setMinimumContentsLength(18)
        self.base.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.task = QComboBox()
        self.task.setObjectName("taskSelector")
        self.task.addItem("Classification (a label per text)", "classification")
        self.task.addItem("Instructions (answer requests)", "instructions")
        self.data_button = QPushButton()
        self.data_button.setObjectName("finetuneDataButton")
        self.data_button.setToolTip("The data to fine-tune on: a TSV/CSV of label and text, or "
                                    "Alpaca-style JSON records (instruction, input, output)")
        self.train_last = QSpinBox()
        self.train_last.setObjectName("trainLastSpin")
        self.train_last.setRange(-1, 1)
        self.train_last.setSpecialValueText("all")
        self.train_last.setToolTip("How many of the last blocks train (with the final norm); "
                                   "the rest stay frozen. 0: a classifier's head alone")
        self.lora = QCheckBox("LoRA, rank")
        self.lora.setObjectName("loraCheck")
        self.lora.setToolTip("Freeze every base weight and train small low-rank adapters")
        self.rank = QSpinBox()
        self.rank.setObjectName("loraRankSpin")
        self.rank.setRange(1, 256)
        self.rank.setValue(8)
        self.epochs = QDoubleSpinBox()
        self.epochs.setObjectName("epochsSpin")
        self.epochs.setRange(0.1, 100.0)
        self.epochs.setSingleStep(0.5)
        self.epochs.setDecimals(1)
        self.batch = QSpinBox()
        self.batch.setObjectName("finetuneBatchSpin")
        self.batch.setRange(1, 512)
        self.batch.setValue(8)
        self.lr = QLineEdit()
        self.lr.setObjectName("finetuneLrEdit")

        lora_row = QHBoxLayout()
        lora_row.addWidget(self.lora)
        lora_row.addWidget(self.rank, 1)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Base run", self.base)
        form.addRow("Task", self.task)
        form.addRow("Data", self.data_button)
        form.addRow("Blocks to train", self.train_last)
        form.addRow("Adapters", lora_row)
        form.addRow("Epochs", self.epochs)
        form.addRow("Batch size", self.batch)
        form.addRow("Learning rate", self.lr)

        self._data = {"classification": BUILTIN_AUTHORS, "instructions": BUILTIN_INSTRUCTIONS}
        self._base_index = -1
        self.base.currentIndexChanged.connect(self._on_base_chosen)
        self.task.currentIndexChanged.connect(self._on_task_changed)
        self.data_button.clicked.connect(self._on_browse_data)
        self.lora.toggled.connect(self._on_lora_toggled)
        for signal in (self.train_last.valueChanged, self.rank.valueChanged):
            signal.connect(self.changed)
        self._on_task_changed()
        self._on_lora_toggled(False)

    # -- what the fields say -------------------------------------------------------------------
    @property
    def task_name(self) -> str:
        return str(self.task.currentData())

    @property
    def base_run(self) -> Path | None:
        data = self.base.currentData()
        return Path(data) if data and data != BROWSE else None

    @property
    def data(self) -> str | None:
        return self._data[self.task_name]

    def spec(self) -> FinetuneSpec:
        """The engine's spec for these fields (ConfigError if one is wrong)."""
        lora = LoRAConfig(rank=self.rank.value()) if self.lora.isChecked() else None
        value = self.train_last.value()
        return FinetuneSpec(self.task_name, self.data or "", lora=lora,
                            train_last=None if value < 0 else value)

    def train_config(self, n_train: int | None) -> TrainConfig:
        """The book's settings for the task, with this batch size and learning rate (the steps
        follow from the epochs: `prepare_finetune(epochs=...)`); with the number of training
        examples known, an evaluation `EVALS_PER_EPOCH` times a pass."""
        overrides: dict = {"batch_size": self.batch.value()}
        if n_train:
            per_epoch = max(1, n_train // self.batch.value())
            overrides["eval_interval"] = max(1, per_epoch // EVALS_PER_EPOCH)
        if self.lr.text().strip():
            try:
                lr = float(self.lr.text())
            except ValueError:
                lr = math.nan
            overrides["learning_rate"] = check_learning_rate(lr, "The learning rate")
        return default_train_config(self.task_name, lora=self.lora.isChecked(), **overrides)

    # -- filling in ------------------------------------------------------------------------------
    def set_base_runs(self, choices: list[tuple[str, Path]], wanted: Path | None = None) -> None:
        """Offer `choices` (then "Browse…"), keeping the current base if it is still there."""
        wanted = before = wanted or self.base_run
        self.base.blockSignals(True)
        self.base.clear()
        for label, path in choices:
            self.base.addItem(label, str(path))
        self.base.addItem("Browse…", BROWSE)
        paths = [str(Path(p).resolve()) for _, p in choices]
        index = paths.index(str(wanted.resolve())) if wanted is not None and \
            str(wanted.resolve()) in paths else (0 if choices else -1)
        self.base.setCurrentIndex(index)
        self._base_index = index
        self.base.blockSignals(False)
        if self.base_run != before:
            self.changed.emit()

    def choose_base(self, path: Path) -> None:
        """Make `path` the base run (added to the list if it is not there)."""
        path = Path(path)
        for i in range(self.base.count()):
            data = self.base.itemData(i)
            if data != BROWSE and Path(data).resolve() == path.resolve():
                self.base.setCurrentIndex(i)
                return
        self.base.insertItem(0, path.name, str(path))
        self.base.setCurrentIndex(0)

    def set_data(self, path: str) -> None:
        """Fine-tune the current task on `path` (a file, or builtin:NAME)."""
        self._data[self.task_name] = path
        self._show_data()
        self.changed.emit()

    def set_block_count(self, n_layer: int) -> None:
        """The base has `n_layer` blocks: the spin box offers 0 (head only) to all of them."""
        self.train_last.blockSignals(True)
        self.train_last.setMaximum(n_layer)
        self.train_last.blockSignals(False)

    def _show_data(self) -> None:
        data = self.data
        if data is None:
            self.data_button.setText("Choose a file…")
        else:
            self.data_button.setText(BUILTIN_LABELS.get(data, Path(data).name))
        self.data_button.setToolTip(data or "Instruction records: Alpaca-style JSON")

    # -- reactions ---------------------------------------------------------------------------------
    @Slot(int)
    def _on_base_chosen(self, index: int) -> None:
        if self.base.itemData(index) == BROWSE:
            path = QFileDialog.getExistingDirectory(self, "Choose a base run folder")
            self.base.blockSignals(True)
            self.base.setCurrentIndex(self._base_index)
            self.base.blockSignals(False)
            if path:
                self.choose_base(Path(path))
            return
        self._base_index = index
        self.changed.emit()

    @Slot()
    def _on_task_changed(self) -> None:
        task = self.task_name
        default = DEFAULT_TRAIN_LAST[task]
        self.train_last.blockSignals(True)
        self.train_last.setMaximum(max(self.train_last.maximum(), default or 0))
        self.train_last.setValue(-1 if default is None else default)
        self.train_last.blockSignals(False)
        self.epochs.setValue(DEFAULT_EPOCHS[task])
        self._show_lr_default()
        self._show_data()
        self.changed.emit()

    @Slot(bool)
    def _on_lora_toggled(self, on: bool) -> None:
        self.rank.setEnabled(on)
        self._show_lr_default()
        self.changed.emit()

    def _show_lr_default(self) -> None:
        default = default_train_config(self.task_name, lora=self.lora.isChecked()).learning_rate
        self.lr.setPlaceholderText(f"{default:g} (the book's)")

    @Slot()
    def _on_browse_data(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose the data to fine-tune on", "",
                                              DATA_FILTERS[self.task_name])
        if path:
            self.set_data(path)
