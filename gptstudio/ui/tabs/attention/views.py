"""Everything the Attention tab draws one view with, kept in step: grid, heatmap (and a pinned
one to compare), the token view, the head table, the next-token bars.

`draw(shown)` draws a new `display.Shown`; `select_head` / `select_position` change what is
looked at within it (from a click in the grid, the table, the heatmap, the token view, or the
layer and head selectors, which the tab connects here). Pinning copies the heatmap shown now
into the second one, which then stays while the first follows the slider or the head choice.
Left out: where views come from (the tab) and computing them (core).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSplitter, QTabWidget, QVBoxLayout, \
    QWidget

from gptstudio.core.attention import token_attention
from gptstudio.ui.tabs.attention.display import Shown
from gptstudio.ui.tabs.attention.grid import AttentionGrid
from gptstudio.ui.tabs.attention.heatmap import HeatmapView
from gptstudio.ui.tabs.attention.next_tokens import NextTokenBars
from gptstudio.ui.tabs.attention.stats_table import HeadStatsTable
from gptstudio.ui.tabs.attention.token_view import TokenView
from gptstudio.ui.theme import PlotTheme

HOVER_HINT = ("Point at a cell for its exact weight; click it to select that query token. "
              "Wheel or drag to zoom.")


def _scrolling(widget: QWidget) -> QScrollArea:
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setWidget(widget)
    return scroll


class AttentionViews(QSplitter):
    """The tab's drawing area; `head_selected(layer, head)` after any change of head."""

    head_selected = Signal(int, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Horizontal, parent)
        self.shown: Shown | None = None
        self._table_stale = False
        self.layer = self.head = 0
        self.position: int | None = None  # the selected query token (None: the last one)
        self.grid = AttentionGrid()
        self.heatmap = HeatmapView()
        self.heatmap.setObjectName("attentionHeatmap")
        self.pinned = HeatmapView()
        self.pinned.setObjectName("pinnedHeatmap")
        self.token_view = TokenView()
        self.next_bars = NextTokenBars()
        self.table = HeadStatsTable()
        self.readout = QLabel(HOVER_HINT)
        self.readout.setObjectName("heatmapReadout")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.readout.setWordWrap(True)

        heatmaps = QSplitter(Qt.Orientation.Horizontal)
        for heatmap, name in ((self.heatmap, "heatmapCaption"), (self.pinned, "pinnedCaption")):
            box = QWidget()
            inner = QVBoxLayout(box)
            inner.setContentsMargins(0, 0, 0, 0)
            inner.setSpacing(2)
            caption = QLabel()
            caption.setObjectName(name)
            caption.setAlignment(Qt.AlignmentFlag.AlignCenter)
            heatmap.caption_changed.connect(caption.setText)
            inner.addWidget(caption)
            inner.addWidget(heatmap, 1)
            heatmaps.addWidget(box)
        self._pinned_box = heatmaps.widget(1)
        self._pinned_box.hide()
        top = QWidget()
        column = QVBoxLayout(top)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(heatmaps, 1)
        column.addWidget(self.readout)
        self.details = QTabWidget()
        self.details.setObjectName("attentionDetails")
        self.details.addTab(_scrolling(self.token_view), "Token view")
        self.details.addTab(self.table, "What each head does")
        center = QSplitter(Qt.Orientation.Vertical)
        center.addWidget(top)
        center.addWidget(self.details)
        center.setStretchFactor(0, 3)
        center.setStretchFactor(1, 1)
        center.setSizes([500, 170])
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.grid)
        left.addWidget(_scrolling(self.next_bars))  # the lens of a deep model is long
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 2)
        left.setSizes([450, 210])
        self.addWidget(left)
        self.addWidget(center)
        self.setStretchFactor(0, 2)
        self.setStretchFactor(1, 3)

        # Small minimums: the window may be narrow (the splitters give room back when wide).
        for widget, (w, h) in ((self.grid, (160, 120)), (self.heatmap, (200, 160)),
                               (self.pinned, (160, 160)), (self.details, (200, 90))):
            widget.setMinimumSize(w, h)
        self.grid.head_clicked.connect(self.select_head)
        self.table.head_chosen.connect(self.select_head)
        self.heatmap.query_clicked.connect(self.select_position)
        self.heatmap.hovered.connect(self._on_hovered)
        self.pinned.hovered.connect(self._on_hovered)
        self.token_view.position_clicked.connect(self.select_position)
        self.details.currentChanged.connect(self._fill_table)

    def apply_theme(self, theme: PlotTheme) -> None:
        for widget in (self.grid, self.heatmap, self.pinned, self.token_view, self.next_bars):
            widget.apply_theme(theme)

    def draw(self, shown: Shown) -> None:
        self.shown = shown
        self.layer = min(self.layer, shown.n_layer - 1)
        self.head = min(self.head, shown.n_head - 1)
        T = len(shown.labels)
        self.position = T - 1 if self.position is None else min(self.position, T - 1)
        self.grid.set_summary(shown.grid, {(s.layer, s.head): s.label for s in shown.stats})
        self._table_stale = True
        self._fill_table()
        self._show_head()

    @Slot()
    def _fill_table(self) -> None:
        """The head table, refilled only while its page is shown (a scrub would otherwise
        rebuild hundreds of cells each frame)."""
        if self._table_stale and self.shown is not None and \
                self.details.currentWidget() is self.table:
            self._table_stale = False
            self.table.set_stats(self.shown.stats)
            self.table.select_head(self.layer, self.head)

    def clear(self, message: str) -> None:
        """Nothing to show (no model, an LSTM, another run): `message` says why."""
        self.shown = None
        self.grid.clear(message)
        self.heatmap.clear_matrix()
        self.token_view.set_view([], None)
        self.next_bars.set_guesses("", 0, None, None)
        self.table.setRowCount(0)
        self._pinned_box.hide()

    @Slot(int, int)
    def select_head(self, layer: int, head: int) -> None:
        self.layer, self.head = layer, head
        if self.shown is not None:
            self._show_head()

    @Slot(int)
    def select_position(self, position: int) -> None:
        self.position = position
        if self.shown is not None:
            self._show_token()

    def set_pinned(self, on: bool) -> None:
        """Keep the heatmap shown now beside the live one (`on`), or drop it."""
        if on and self.shown is not None:
            h = self.heatmap
            self.pinned.show_matrix(h.matrix(), h.tokens, top=h.bar.levels()[1],
                                    caption=f"Pinned: {h.caption}", ideal=self.shown.ideal)
        self._pinned_box.setVisible(on and self.shown is not None)

    def _show_head(self) -> None:
        shown, layer, head = self.shown, self.layer, self.head
        stat = shown.stat(layer, head)
        label = f" ({stat.label})" if stat.label else ""
        self.heatmap.show_matrix(shown.view.maps.weights[layer][head], list(shown.labels),
                                 top=float(shown.grid.tops[layer, head]), ideal=shown.ideal,
                                 caption=f"Layer {layer + 1}, head {head + 1}{label} · "
                                         f"{shown.caption}")
        self.grid.set_selected(layer, head)
        if not self._table_stale:
            self.table.select_head(layer, head)
        self._show_token()
        self.head_selected.emit(layer, head)

    def _show_token(self) -> None:
        shown = self.shown
        position = min(self.position or 0, len(shown.labels) - 1)
        view = token_attention(shown.view.maps, self.layer, position)
        self.token_view.set_view(list(shown.labels), view)
        self.next_bars.set_guesses(shown.labels[position], position, shown.view.next_tokens,
                                   shown.view.lens)

    @Slot(str)
    def _on_hovered(self, text: str) -> None:
        self.readout.setText(text or HOVER_HINT)
