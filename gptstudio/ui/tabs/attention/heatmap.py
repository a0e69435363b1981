"""One head's attention as a big heatmap: queries down, keys across, token texts on the axes.

A pyqtgraph `ImageItem` (row-major: row i = query i) with a `ColorBarItem` beside it; the masked
upper triangle is a hatched overlay, so "never looked at" reads differently from "a weight of
0"; a synthetic task's ideal pattern shows as red squares. The axes label each cell with its
token when there is room, and fewer labels as the view zooms out (mouse wheel / drag zoom; long
prompts stay usable). Hovering reads the exact weight out (`hovered(text)`); clicking a cell
selects its query row (`query_clicked(i)`).
Left out: choosing the head (the tab) and computing weights (core).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Signal
from PySide6.QtGui import QColor

from gptstudio.core.attention.png import colormap_lut
from gptstudio.ui.theme import PlotTheme, plot_theme

COLOR_MAP = pg.ColorMap(np.linspace(0, 1, 256), colormap_lut())
HATCH = 8  # overlay pixels per cell for the hatching of masked cells (short prompts)


class TokenAxis(pg.AxisItem):
    """An axis whose ticks are token texts at cell centres, thinned out to fit."""

    def __init__(self, orientation: str) -> None:
        super().__init__(orientation)
        self.labels: list[str] = []

    def set_labels(self, labels: list[str]) -> None:
        self.labels = labels
        self.picture = None
        self.update()

    def tickValues(self, minVal: float, maxVal: float, size: float) -> list:  # noqa: N802
        n = len(self.labels)
        if n == 0 or size <= 0 or maxVal <= minVal:
            return []
        px_per_cell = size / (maxVal - minVal)
        if self.orientation in ("top", "bottom"):
            widest = max(len(s) for s in self.labels) * 7 + 6
        else:
            widest = 14
        step = max(1, math.ceil(widest / max(px_per_cell, 1e-6)))
        first = max(0, math.floor(minVal))
        first -= first % step
        values = [i + 0.5 for i in range(first, min(n, math.ceil(maxVal)), step)]
        return [(step, values)]

    def tickStrings(self, values: list, scale: float, spacing: float) -> list[str]:  # noqa: N802
        out = []
        for v in values:
            i = int(v)
            out.append(self.labels[i] if 0 <= i < len(self.labels) else "")
        return out


def hatch_overlay(T: int, dark: bool = False) -> np.ndarray:
    """An opaque RGBA image of the masked upper triangle: grey with thin diagonal lines (finer
    for short prompts, flat grey for very long ones)."""
    k = HATCH if T <= 128 else 4 if T <= 256 else 1
    n = T * k
    yy, xx = np.mgrid[0:n, 0:n]
    future = (xx // k) > (yy // k)
    lines = (xx + yy) % max(k, 2) == 0 if k > 1 else np.zeros_like(future)
    base, line = ((58, 58, 58), (88, 88, 88)) if dark else ((228, 228, 228), (196, 196, 196))
    rgba = np.zeros((n, n, 4), np.uint8)
    rgba[future] = (*base, 255)
    rgba[future & lines] = (*line, 255)
    return rgba


class HeatmapView(pg.GraphicsLayoutWidget):
    """objectName given by the tab (attentionHeatmap); see the module docstring."""

    hovered = Signal(str)
    query_clicked = Signal(int)
    caption_changed = Signal(str)  # what is shown, for a label above (a plot title would
    # re-lay the whole plot out on every change)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.left_axis, self.top_axis = TokenAxis("left"), TokenAxis("top")
        self.plot = self.addPlot(axisItems={"left": self.left_axis, "top": self.top_axis})
        self.plot.showAxis("top")
        self.plot.hideAxis("bottom")
        self.plot.invertY(True)
        self.plot.setAspectLocked(True)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.image = pg.ImageItem(axisOrder="row-major")
        self.mask_item = pg.ImageItem(axisOrder="row-major")
        self.ideal_item = pg.ScatterPlotItem(symbol="s", brush=None, pxMode=False)
        for item in (self.image, self.mask_item, self.ideal_item):
            self.plot.addItem(item)
        self.bar = pg.ColorBarItem(values=(0, 1), colorMap=COLOR_MAP, interactive=True,
                                   width=14, colorMapMenu=False)
        self.bar.setImageItem(self.image, insert_in=self.plot)
        self.weights = np.zeros((0, 0), np.float32)
        self.tokens: list[str] = []
        self.caption = ""
        self._T = 0
        self._dark = False
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)
        self.apply_theme(plot_theme())

    def show_matrix(self, weights: np.ndarray, tokens: list[str], *, top: float,
                    caption: str = "", ideal: np.ndarray | None = None) -> None:
        """Show a (T, T) head, labelled with `tokens`, colours up to `top` (the bar's range)."""
        T = weights.shape[0]
        self.weights, self.tokens, self.caption = weights, tokens, caption
        self.image.setImage(weights, autoLevels=False)
        self.image.setRect(QRectF(0, 0, T, T))
        self.bar.setLevels((0.0, max(top, 1e-6)))
        if T != self._T:
            self.mask_item.setImage(hatch_overlay(T, self._dark), autoLevels=False)
            self.mask_item.setRect(QRectF(0, 0, T, T))
            self._T = T
            self.plot.setRange(xRange=(0, T), yRange=(0, T), padding=0.02)
        if tokens != self.left_axis.labels:  # a new prompt: re-lay the ticks (costly)
            self.left_axis.set_labels(tokens)
            self.top_axis.set_labels(tokens)
        self.set_ideal(ideal)
        self.caption_changed.emit(caption)

    def set_ideal(self, ideal: np.ndarray | None) -> None:
        if ideal is None or not ideal.any():
            self.ideal_item.setData([])
            return
        q, k = np.nonzero(ideal)
        self.ideal_item.setData(x=k + 0.5, y=q + 0.5, size=0.9,
                                pen=pg.mkPen(QColor(230, 40, 40), width=2))

    def clear_matrix(self) -> None:
        """Show nothing. (Not `clear`: pyqtgraph binds that name to its layout's clear().)"""
        self.image.clear()
        self.mask_item.clear()
        self.ideal_item.setData([])
        self.weights, self.tokens, self.caption, self._T = np.zeros((0, 0), np.float32), [], "", 0
        self.left_axis.set_labels([])
        self.top_axis.set_labels([])
        self.caption_changed.emit("")

    def matrix(self) -> np.ndarray:
        """The (T, T) weights shown now."""
        return self.weights

    def reset_zoom(self) -> None:
        if self._T:
            self.plot.setRange(xRange=(0, self._T), yRange=(0, self._T), padding=0.02)

    def apply_theme(self, theme: PlotTheme) -> None:
        self._dark = theme.background != "#ffffff"
        if self._T:
            self.mask_item.setImage(hatch_overlay(self._T, self._dark), autoLevels=False)
        self.setBackground(theme.background)
        for axis in (self.left_axis, self.top_axis):
            axis.setPen(theme.foreground)
            axis.setTextPen(theme.foreground)
        self.bar.axis.setPen(theme.foreground)
        self.bar.axis.setTextPen(theme.foreground)

    # -- the mouse -------------------------------------------------------------------------------
    def _cell_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        if not self.plot.sceneBoundingRect().contains(scene_pos) or self.weights.size == 0:
            return None
        point = self.plot.vb.mapSceneToView(scene_pos)
        i, j = math.floor(point.y()), math.floor(point.x())
        T = self.weights.shape[0]
        return (i, j) if 0 <= i < T and 0 <= j < T else None

    def describe(self, i: int, j: int) -> str:
        """The hover text of cell (query i, key j)."""
        q, k = self.tokens[i], self.tokens[j]
        if j > i:
            return f"query {i} “{q}” → key {j} “{k}”: masked (no token sees later ones)"
        return f"query {i} “{q}” → key {j} “{k}”: weight {float(self.weights[i, j]):.4f}"

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        cell = self._cell_at(scene_pos)
        self.hovered.emit("" if cell is None else self.describe(*cell))

    def _on_mouse_clicked(self, event) -> None:
        cell = self._cell_at(event.scenePos())
        if cell is not None:
            self.query_clicked.emit(cell[0])
