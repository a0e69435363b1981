"""`maskPreview`: training examples, their tokens shaded by whether the loss trains on them.

Core decides (`core.finetune.preview.masked_example`, from the very batches the trainer gets);
this widget only colours: trained tokens green, masked ones grey, two shades of each in turn
so that token boundaries show, and a classifier's padding in plain muted text. Line breaks of
the prompt template are kept as line breaks (shown with a ↵), so the example reads as the model
reads it. Left out: computing the mask.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import QLabel, QTextEdit, QVBoxLayout, QWidget

from gptstudio.core.finetune.preview import MaskedExample
from gptstudio.ui.theme import PlotTheme, is_dark_palette, plot_theme

# Two shades a kind, alternating token by token.
SHADES = {
    False: {"trained": ("#c8e6c9", "#a5d6a7"), "masked": ("#e4e4e4", "#cfcfcf")},
    True: {"trained": ("#1f5129", "#2b6a37"), "masked": ("#3b3b3b", "#4a4a4a")},
}
MAX_PAD_SHOWN = 3  # a classifier's padding: the first few pad tokens, then "… × N"


def shade_kind(color: str, dark: bool) -> str | None:
    """"trained" / "masked" for a background this view paints, else None."""
    for kind, shades in SHADES[dark].items():
        if color.lower() in shades:
            return kind
    return None


def _shown(piece: str) -> str:
    return piece.replace("\n", "↵\n").replace("\t", "→")


class MaskPreview(QWidget):
    """The example (objectName maskPreview on the text view) with a legend above it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.legend = QLabel()
        self.legend.setObjectName("maskLegend")
        self.legend.setWordWrap(True)
        self.view = QTextEdit()
        self.view.setObjectName("maskPreview")
        self.view.setReadOnly(True)
        self.view.setLineWrapMode(QTextEdit.LineWrapMode.WidgetWidth)
        self.view.setMinimumHeight(90)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.legend)
        layout.addWidget(self.view, 1)
        self.examples: tuple[MaskedExample, ...] = ()
        self.spans: list[list[tuple[int, int]]] = []  # per example: each token's (start, end)
        self.theme = plot_theme()
        self.show_message("The example appears here once a base run and data are chosen.")

    def show_message(self, text: str) -> None:
        self.examples, self.spans = (), []
        self.legend.setText("")
        self.view.setPlainText(text)

    @property
    def example(self) -> MaskedExample | None:
        return self.examples[0] if self.examples else None

    def show_examples(self, examples: tuple[MaskedExample, ...]) -> None:
        self.examples = tuple(examples)
        self._draw()

    def apply_theme(self, theme: PlotTheme) -> None:
        self.theme = theme
        if self.examples:
            self._draw()

    def _draw(self) -> None:
        first, dark = self.examples[0], is_dark_palette()
        shades = SHADES[dark]
        box = "<span style='background:{}'>&nbsp;{}&nbsp;</span>"
        trained_box = box.format(shades["trained"][0], "trained")
        masked_box = box.format(shades["masked"][0], "not trained")
        if first.task == "instructions":
            self.legend.setText(
                f"{trained_box} {masked_box} — the loss counts {first.n_trained} of "
                f"{len(first.ids)} tokens: the response and its end-of-text, not the prompt.")
        else:
            self.legend.setText(
                f"One text of each label. {trained_box} the position the classifier head "
                f"reads, {masked_box} the rest of the text (and the padding after it).")
        self.view.clear()
        self.spans = []
        cursor = QTextCursor(self.view.document())
        for n, example in enumerate(self.examples):
            if n:
                cursor.insertText("\n\n", QTextCharFormat())
            if example.label is not None:
                bold = QTextCharFormat()
                bold.setFontWeight(700)
                cursor.insertText(f"{example.label}:  ", bold)
            self.spans.append(self._insert(cursor, example, shades))
        self.view.moveCursor(QTextCursor.MoveOperation.Start)

    def _insert(self, cursor: QTextCursor, example: MaskedExample,
                shades: dict) -> list[tuple[int, int]]:
        """Write one example's tokens at `cursor`; each shown token's (start, end)."""
        spans = []
        pads = [i for i, kind in enumerate(example.kinds) if kind == "pad"]
        turn = {"trained": 0, "masked": 0}
        for i, (piece, trained, kind) in enumerate(zip(example.pieces, example.trained,
                                                       example.kinds)):
            if kind == "pad" and i >= pads[0] + MAX_PAD_SHOWN:
                break
            fmt = QTextCharFormat()
            if kind == "pad":
                fmt.setForeground(QColor(self.theme.muted))
            else:
                which = "trained" if trained else "masked"
                fmt.setBackground(QColor(shades[which][turn[which] % 2]))
                turn[which] += 1
            start = cursor.position()
            cursor.insertText(_shown(piece), fmt)
            spans.append((start, cursor.position()))
        if len(pads) > MAX_PAD_SHOWN:
            muted = QTextCharFormat()
            muted.setForeground(QColor(self.theme.muted))
            cursor.insertText(f" … padding × {len(pads)}", muted)
        return spans

    def token_shading(self, index: int = 0) -> list[str | None]:
        """What each shown token of example `index` is painted as ("trained", "masked", None
        for none), read back from the document's formats (what a test compares with core's)."""
        out, dark = [], is_dark_palette()
        doc = self.view.document()
        for start, _ in self.spans[index]:
            cursor = QTextCursor(doc)
            cursor.setPosition(start + 1)  # the format of the character after `start`
            background = cursor.charFormat().background()
            color = background.color().name() if background.style() != 0 else ""
            out.append(shade_kind(color, dark) if color else None)
        return out
