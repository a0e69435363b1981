"""Live training plots: the loss plot (train/val, overlays, hover, click) and small metric plots.

Each plot draws from a `RunHistory` (numpy columns) and is redrawn by the Train tab's ~30 Hz
timer calling `refresh()`, which does nothing unless the data or a display option changed —
never once per training step (STYLE.md 9). Curves use pyqtgraph's automatic downsampling and
clip-to-view, which keeps 100k-point redraws cheap (PITFALLS). Left out: where the numbers come
from (the Session and the training worker).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPen

from gptstudio.ui.history import RunHistory
from gptstudio.ui.smoothing import ema
from gptstudio.ui.theme import PlotTheme, plot_theme

X_MODES = {"step": "step", "tokens": "tokens seen", "elapsed": "wall time (s)"}
Y_MODES = {"loss": "loss (nats/token)", "bpb": "bits per byte"}


def _style(widget: pg.PlotWidget, theme: PlotTheme) -> None:
    """Background, axes, labels and grid in the theme's colours."""
    widget.setBackground(theme.background)
    item = widget.getPlotItem()
    for name in ("left", "bottom"):
        axis = item.getAxis(name)
        # Grid lines at the labelled ticks only: minor grid lines made a repaint 4x slower
        # (21 -> 5 ms), and the GUI thread's paint time is taken from training (the GIL).
        axis.setStyle(maxTickLevel=0)
        axis.setPen(pg.mkPen(theme.foreground))
        axis.setTextPen(pg.mkPen(theme.foreground))
        if axis.labelText:
            axis.setLabel(axis.labelText, color=theme.foreground)
    item.showGrid(x=True, y=True, alpha=theme.grid_alpha)


def _pen(color: str, *, width: float = 2.0, alpha: int = 255, dashed: bool = False) -> QPen:
    qcolor = QColor(color)
    qcolor.setAlpha(alpha)
    style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
    return pg.mkPen(qcolor, width=width, style=style)


def _curve(item: pg.PlotItem, name: str | None = None) -> pg.PlotDataItem:
    curve = item.plot(name=name)
    curve.setDownsampling(auto=True, method="peak")
    curve.setClipToView(True)
    return curve


def _reset_view(widget: pg.PlotWidget, x_mode: str, step_extent: int) -> None:
    """Auto-range, except x in step mode when the run's length is known: then x shows the whole
    run from the start. A fixed axis is not re-laid out at every new point, which halved the
    cost of a repaint — and it shows how far along the run is."""
    if x_mode == "step" and step_extent > 0:
        widget.enableAutoRange(y=True)
        widget.getPlotItem().vb.enableAutoRange(x=False)
        widget.setXRange(0, step_extent, padding=0.01)
    else:
        widget.enableAutoRange()


def _x_values(history: RunHistory, table: str, x_mode: str) -> np.ndarray:
    columns = history.steps if table == "steps" else history.evals
    return columns.column(x_mode)


class LossPlot(pg.PlotWidget):
    """Train and validation loss of the current run, plus earlier runs drawn on the same axes."""

    step_clicked = Signal(int)  # the training step nearest to a click on the curve

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("lossPlot")
        self.setMenuEnabled(False)  # its context menu offers options that fight our toggles
        self.x_mode = "step"
        self.y_mode = "loss"
        self.smoothing = 0.6
        self.step_extent = 0
        self.history = RunHistory()
        self._overlays: dict[str, tuple[RunHistory, pg.PlotDataItem, pg.PlotDataItem]] = {}
        self._drawn_key: tuple | None = None
        item = self.getPlotItem()
        item.setLabel("left", Y_MODES["loss"])
        item.setLabel("bottom", X_MODES["step"])
        self.legend = item.addLegend(offset=(-10, 10))
        self._train_raw = _curve(item)
        self._train = _curve(item, "train")
        self._val = _curve(item, "validation")
        self._val.setSymbol("o")
        self._val.setSymbolSize(6)
        self._val.setSymbolPen(None)
        self._cursor = pg.InfiniteLine(angle=90, movable=False)
        self._cursor.setVisible(False)
        self._hover = pg.TextItem(anchor=(0, 1))
        self._hover.setZValue(10)
        self._hover.setVisible(False)
        item.addItem(self._cursor, ignoreBounds=True)
        item.addItem(self._hover, ignoreBounds=True)
        self.hover_text = ""
        self.apply_theme(plot_theme())
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)

    def apply_theme(self, theme: PlotTheme) -> None:
        """Colour everything for a light or dark palette (also when the system switches)."""
        self.theme = theme
        _style(self, theme)
        self.legend.setLabelTextColor(theme.foreground)
        self._train_raw.setPen(_pen(theme.train, width=1.0, alpha=theme.raw_alpha))
        self._train.setPen(_pen(theme.train))
        self._val.setPen(_pen(theme.val))
        self._val.setSymbolBrush(pg.mkBrush(theme.val))
        self._cursor.setPen(pg.mkPen(theme.foreground, width=1, style=Qt.PenStyle.DotLine))
        self._hover.setColor(theme.foreground)
        self._hover.fill = pg.mkBrush(QColor(theme.background))
        for i, (_, train, val) in enumerate(self._overlays.values()):
            color = theme.overlays[i % len(theme.overlays)]
            train.setPen(_pen(color, width=1.0))
            val.setPen(_pen(color, width=1.0, dashed=True))

    # -- options -------------------------------------------------------------------------------
    def set_history(self, history: RunHistory) -> None:
        self.history = history
        self._drawn_key = None

    def set_x_mode(self, mode: str) -> None:
        self.x_mode = mode
        self.setLabel("bottom", X_MODES[mode], color=self.theme.foreground)
        self._drawn_key = None
        self.refresh()
        self.reset_view()

    def set_y_mode(self, mode: str) -> None:
        self.y_mode = mode
        self.setLabel("left", Y_MODES[mode], color=self.theme.foreground)
        self._drawn_key = None
        self.refresh()
        self.reset_view()

    def set_log_y(self, on: bool) -> None:
        self.setLogMode(x=False, y=on)
        self.reset_view()

    def set_step_extent(self, steps: int) -> None:
        """The planned length of the run (0: unknown), so the step axis can show all of it."""
        self.step_extent = steps
        self.reset_view()

    def reset_view(self) -> None:
        """Undo the user's zoom and pan."""
        overlays = [int(h.steps.last("step")) for h, *_ in self._overlays.values()
                    if len(h.steps)]
        _reset_view(self, self.x_mode, max([self.step_extent, *overlays]))

    def set_smoothing(self, smoothing: float) -> None:
        self.smoothing = smoothing
        self._drawn_key = None
        self.refresh()

    def add_overlay(self, name: str, history: RunHistory) -> None:
        """Draw another run's curves (smoothed train solid, validation dashed) in its own colour."""
        self.remove_overlay(name)
        item = self.getPlotItem()
        train = _curve(item, f"{name} (train)")
        val = _curve(item, f"{name} (val)")
        self._overlays[name] = (history, train, val)
        self.apply_theme(self.theme)  # colours the new curves
        self._drawn_key = None
        self.refresh()
        self.reset_view()

    def remove_overlay(self, name: str) -> None:
        entry = self._overlays.pop(name, None)
        if entry is None:
            return
        for curve in entry[1:]:
            self.getPlotItem().removeItem(curve)
            self.legend.removeItem(curve)
        self._drawn_key = None

    def overlay_names(self) -> list[str]:
        return list(self._overlays)

    # -- drawing -------------------------------------------------------------------------------
    def _y(self, history: RunHistory, loss: np.ndarray,
           bpb: np.ndarray | None = None) -> np.ndarray:
        if self.y_mode == "loss":
            return loss
        if bpb is not None and np.isfinite(bpb).any():
            return bpb
        return history.to_bpb(loss)

    def refresh(self) -> None:
        """Push the data to the curves if anything changed since the last call."""
        key = (self.history.version, tuple((n, h.version) for n, (h, *_) in self._overlays.items()),
               self.x_mode, self.y_mode, self.smoothing)
        if key == self._drawn_key:
            return
        self._drawn_key = key
        self._draw_run(self.history, self._train, self._val, self._train_raw)
        for history, train, val in self._overlays.values():
            self._draw_run(history, train, val, None)

    def _draw_run(self, h: RunHistory, train: pg.PlotDataItem, val: pg.PlotDataItem,
                  raw: pg.PlotDataItem | None) -> None:
        x = _x_values(h, "steps", self.x_mode)
        loss = self._y(h, h.steps.column("loss"))
        if raw is not None:
            raw.setData(x, loss, connect="finite")
            raw.setVisible(self.smoothing > 0)
        train.setData(x, ema(loss, self.smoothing), connect="finite")
        vx = _x_values(h, "evals", self.x_mode)
        vy = self._y(h, h.evals.column("val_loss"), h.evals.column("val_bpb"))
        val.setData(vx, vy, connect="finite")

    def points(self) -> int:
        """How many training-loss points the plot currently draws (for tests and status)."""
        data = self._train.getOriginalDataset()[0]
        return 0 if data is None else len(data)

    # -- hover and click -------------------------------------------------------------------
    def _nearest_step_index(self, scene_pos: QPointF) -> int | None:
        vb = self.getPlotItem().vb
        if not vb.sceneBoundingRect().contains(scene_pos) or len(self.history.steps) == 0:
            return None
        x = vb.mapSceneToView(scene_pos).x()
        xs = _x_values(self.history, "steps", self.x_mode)
        i = int(np.clip(np.searchsorted(xs, x), 0, len(xs) - 1))
        if i > 0 and abs(xs[i - 1] - x) < abs(xs[i] - x):
            i -= 1
        return i

    def _on_mouse_moved(self, scene_pos: QPointF) -> None:
        i = self._nearest_step_index(scene_pos)
        if i is None:
            self._cursor.setVisible(False)
            self._hover.setVisible(False)
            return
        h = self.history
        xs = _x_values(h, "steps", self.x_mode)
        step = int(h.steps.column("step")[i])
        loss = h.steps.column("loss")[i]
        smooth = ema(h.steps.column("loss")[: i + 1][-2000:], self.smoothing)[-1]
        lines = [f"step {step:,}  ·  {human_tokens(h.steps.column('tokens')[i])} tokens"
                 f"  ·  {clock(h.steps.column('elapsed')[i])}",
                 f"train loss {loss:.4f}  (smoothed {smooth:.4f})"]
        evals = h.evals.column("step")
        if len(evals):
            j = int(np.argmin(np.abs(evals - step)))
            lines.append(f"val loss {h.evals.column('val_loss')[j]:.4f} at step {int(evals[j]):,}")
        self.hover_text = "\n".join(lines)
        self._cursor.setPos(xs[i])
        self._cursor.setVisible(True)
        self._hover.setText(self.hover_text)
        vb = self.getPlotItem().vb
        view = vb.mapSceneToView(scene_pos)
        y = view.y()
        self._hover.setPos(xs[i], y)
        # Flip the label to the left of the cursor in the right half so it stays on screen.
        (x0, x1), _ = vb.viewRange()
        self._hover.setAnchor((1, 1) if xs[i] > (x0 + x1) / 2 else (0, 1))
        self._hover.setVisible(True)

    def _on_mouse_clicked(self, event) -> None:
        i = self._nearest_step_index(event.scenePos())
        if i is not None:
            self.step_clicked.emit(int(self.history.steps.column("step")[i]))


class MetricPlot(pg.PlotWidget):
    """One per-step metric (learning rate, gradient norm, tokens/s) of the current run."""

    def __init__(self, column: str, title: str, parent=None) -> None:
        super().__init__(parent)
        self.setMenuEnabled(False)
        self.column = column
        self.title = title
        self.x_mode = "step"
        self.step_extent = 0
        self.history = RunHistory()
        self._drawn_key: tuple | None = None
        self._curve = _curve(self.getPlotItem())
        self.apply_theme(plot_theme())

    def apply_theme(self, theme: PlotTheme) -> None:
        self.theme = theme
        _style(self, theme)
        self.getPlotItem().setTitle(self.title, color=theme.foreground, size="10pt")
        # Width 1: a wider pen made a repaint of this jagged curve 5x slower (20 -> 4 ms).
        self._curve.setPen(_pen(theme.train, width=1.0))

    def set_history(self, history: RunHistory) -> None:
        self.history = history
        self._drawn_key = None

    def set_x_mode(self, mode: str) -> None:
        self.x_mode = mode
        self._drawn_key = None
        self.refresh()
        self.reset_view()

    def set_step_extent(self, steps: int) -> None:
        self.step_extent = steps
        self.reset_view()

    def reset_view(self) -> None:
        _reset_view(self, self.x_mode, self.step_extent)

    def refresh(self) -> None:
        key = (self.history.version, self.x_mode)
        if key == self._drawn_key:
            return
        self._drawn_key = key
        h = self.history
        self._curve.setData(_x_values(h, "steps", self.x_mode), h.steps.column(self.column),
                            connect="finite")


def human_tokens(n: float) -> str:
    if not math.isfinite(n):
        return "?"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{int(n)}"


def clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"
