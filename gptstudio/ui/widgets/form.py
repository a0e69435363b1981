"""Small form helpers shared by the Setup tab's boxes: a field with its error shown beside it.

Numbers are typed as text and parsed here, so that an invalid value can be shown (and explained)
instead of silently clamped. Whether a parsed value makes sense is the engine's call: the boxes
build the engine's config and show its `ConfigError` next to the field. Left out: what the
fields mean.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import (
    QFormLayout, QLabel, QLineEdit, QSizePolicy, QVBoxLayout, QWidget,
)

from gptstudio.ui.theme import PlotTheme, plot_theme


class ErrorLabel(QLabel):
    """Red, word-wrapped text under a field; hidden while there is nothing to say."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.apply_theme(plot_theme())
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.hide()

    def apply_theme(self, theme: PlotTheme) -> None:
        palette = self.palette()
        palette.setColor(QPalette.ColorRole.WindowText, QColor(theme.error))
        self.setPalette(palette)

    def show_error(self, message: str | None) -> None:
        self.setText(message or "")
        self.setVisible(bool(message))


class FormGrid(QFormLayout):
    """Rows of `label | editor`, each editor with an ErrorLabel right under it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.setHorizontalSpacing(10)
        self.setVerticalSpacing(6)
        self.errors: dict[str, ErrorLabel] = {}

    def add_field(self, key: str, label: str, editor: QWidget, tip: str = "") -> QWidget:
        text = QLabel(label)
        text.setBuddy(editor)
        if tip:
            text.setToolTip(tip)
            editor.setToolTip(tip)
        error = ErrorLabel()
        error.setObjectName(f"{key}Error")
        editor.setObjectName(editor.objectName() or f"{key}Field")
        cell = QWidget()
        column = QVBoxLayout(cell)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(editor)
        column.addWidget(error)
        self.addRow(text, cell)
        self.errors[key] = error
        return editor

    def add_wide(self, widget: QWidget) -> None:
        self.addRow(widget)

    def show_errors(self, errors: dict[str, str]) -> None:
        for key, label in self.errors.items():
            label.show_error(errors.get(key))


def number_edit(text: str = "", width_chars: int = 10) -> QLineEdit:
    edit = QLineEdit(text)
    edit.setMinimumWidth(edit.fontMetrics().horizontalAdvance("0") * width_chars)
    return edit


# A comma is read only as a thousands separator ("10,000"); "0,5" must not become 5.
THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?([eE][+-]?\d+)?")


def _without_separators(text: str, name: str) -> str:
    cleaned = text.strip().replace("_", "")
    if "," in cleaned:
        if not THOUSANDS.fullmatch(cleaned):
            raise ValueError(f"{name} must be written with a point for decimals (e.g. 0.0005), "
                             f"not {cleaned}.")
        cleaned = cleaned.replace(",", "")
    return cleaned


def parse_int(text: str, name: str) -> int:
    """'1,000' or '1000' or '1e3' -> 1000; raises ValueError with a sentence."""
    cleaned = _without_separators(text, name)
    try:
        value = float(cleaned)
    except ValueError:
        raise ValueError(f"{name} must be a whole number.") from None
    if not value.is_integer():
        raise ValueError(f"{name} must be a whole number, not {text.strip()}.")
    return int(value)


def parse_float(text: str, name: str) -> float:
    """'0.001', '1e-3' or '1,000.5' -> a float; raises ValueError with a sentence."""
    cleaned = _without_separators(text, name)
    try:
        return float(cleaned)
    except ValueError:
        raise ValueError(f"{name} must be a number (e.g. 0.001 or 1e-3).") from None
