"""A published run's losses drawn over the loss plot: points only, never a line between them.

`ReferenceOverlay(loss_plot)` draws a `core.train.book.ReferenceCurve` as markers (triangles:
train, squares: validation) in the plot's current units: x in steps or tokens seen (wall time
means nothing for someone else's machine, so there it hides), y as loss or bits per byte (from
the curve's own bytes per token). Its legend entries say "published", so nobody reads the
markers as measured here. Left out: which curve (the Train tab asks), the figures (core).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from gptstudio.core.train.book import ReferenceCurve
from gptstudio.ui.theme import PlotTheme
from gptstudio.ui.widgets.plots import LossPlot

SPLITS = (("train", "t", "train"), ("val", "s", "validation"))  # split, symbol, label


class ReferenceOverlay:
    """See the module docstring; `curve` is the one drawn (None: nothing)."""

    def __init__(self, plot: LossPlot) -> None:
        self.plot = plot
        self.curve: ReferenceCurve | None = None
        self.visible = True
        self.items = {split: pg.PlotDataItem(pen=None, symbol=symbol, symbolSize=11)
                      for split, symbol, _ in SPLITS}
        for item in self.items.values():
            plot.getPlotItem().addItem(item)
            plot.legend.removeItem(item)  # legend entries only while a curve is shown
        self.apply_theme(plot.theme)

    def apply_theme(self, theme: PlotTheme) -> None:
        for (split, _, _), color in zip(SPLITS, (theme.train, theme.val)):
            item = self.items[split]
            item.setSymbolBrush(pg.mkBrush(theme.background))
            item.setSymbolPen(pg.mkPen(color, width=2))

    def set_curve(self, curve: ReferenceCurve | None) -> None:
        self.curve = curve
        for split, _, label in SPLITS:
            item = self.items[split]
            self.plot.legend.removeItem(item)
            if curve is not None and curve.split(split)[0]:
                self.plot.legend.addItem(item, f"{curve.name}: {label} (published)")
        self.redraw()
        self.plot.reset_view()

    def set_visible(self, visible: bool) -> None:
        self.visible = visible
        self.redraw()

    def points(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) drawn for one split in the plot's units (empty when hidden)."""
        curve, plot = self.curve, self.plot
        if curve is None or not self.visible or plot.x_mode == "elapsed":
            return np.array([]), np.array([])
        steps, losses = (np.asarray(v, dtype=float) for v in curve.split(split))
        x = steps * curve.tokens_per_step if plot.x_mode == "tokens" else steps
        y = losses if plot.y_mode == "loss" else np.array([curve.bits_per_byte(v)
                                                           for v in losses])
        return x, y

    def redraw(self) -> None:
        ends = [0.0]
        for split, item in self.items.items():
            x, y = self.points(split)
            item.setData(x, y)
            item.setVisible(len(x) > 0)
            if len(x):
                ends.append(float(x.max()))
        self.plot.extra_x_max = max(ends)
