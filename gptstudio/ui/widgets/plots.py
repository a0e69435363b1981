"""Live training plots: the loss plot (train/val, overlays, hover, click) and small metric plots.

Each plot draws from a `RunHistory` (numpy columns). The Train tab's timer calls `refresh()`,
which does nothing unless the data or a display option changed — never once per training step
(STYLE.md 9). Curves use pyqtgraph's automatic downsampling and clip-to-view, so 100k points
stay cheap (PITFALLS).

Repaints are paid for by the training: the GUI thread's Python holds the GIL the training
thread needs. Three choices keep a repaint cheap (docs/MEASUREMENTS.md, "App"): grid lines only at
labelled ticks, thin pens for jagged curves, and an x axis that is re-laid out only when the
data outgrows it (its end jumps to the next 1-2-5 number: "following" the run).
Left out: where the numbers come from (the Train tab feeds the history).
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtGui import QColor, QPen

from gptstudio.ui.history import RunHistory
from gptstudio.ui.widgets.smoothing import ema
from gptstudio.ui.theme import PlotTheme, plot_theme

X_MODES = {"step": "step", "tokens": "tokens seen", "elapsed": "wall time (s)"}
Y_MODES = {"loss": "loss (nats/token)", "bpb": "bits per byte"}


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is >= value (1 for value <= 1).

    >>> nice_ceiling(151), nice_ceiling(200), nice_ceiling(0.3)
    (200.0, 200.0, 1.0)
    """
    if not math.isfinite(value) or value <= 1:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for factor in (1, 2, 5, 10):
        if factor * power >= value * (1 - 1e-12):
            return factor * power
    return 10 * power


def _pen(color: str, *, width: float = 2.0, alpha: int = 255, dashed: bool = False) -> QPen:
    qcolor = QColor(color)
    qcolor.setAlpha(alpha)
    style = Qt.PenStyle.DashLine if dashed else Qt.PenStyle.SolidLine
    return pg.mkPen(qcolor, width=width, style=style)


def _x_values(history: RunHistory, table: str, x_mode: str) -> np.ndarray:
    columns = history.steps if table == "steps" else history.evals
    return columns.column(x_mode)


class LivePlot(pg.PlotWidget):
    """What every training plot shares: theme, x mode, and an x range that follows the run."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMenuEnabled(False)  # its context menu offers options that fight our toggles
        self.x_mode = "step"
        self.history = RunHistory()
        self.step_extent = 0  # the run's planned steps: the step axis never goes past it
        self.following = True  # False once the user zooms or pans
        self._drawn_key: tuple | None = None
        for name in ("left", "bottom"):
            # Grid lines at the labelled ticks only: minor grid lines make a repaint much slower.
            self.getPlotItem().getAxis(name).setStyle(maxTickLevel=0)
        self.getPlotItem().vb.sigRangeChangedManually.connect(self._on_range_changed_manually)

    def _curve(self, name: str | None = None) -> pg.PlotDataItem:
        curve = self.getPlotItem().plot(name=name)
        curve.setDownsampling(auto=True, method="peak")
        curve.setClipToView(True)
        return curve

    def _style(self, theme: PlotTheme) -> None:
        self.theme = theme
        self.setBackground(theme.background)
        item = self.getPlotItem()
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(theme.foreground))
            axis.setTextPen(pg.mkPen(theme.foreground))
            if axis.labelText:
                axis.setLabel(axis.labelText, color=theme.foreground)
        item.showGrid(x=True, y=True, alpha=theme.grid_alpha)

    # -- data and view -------------------------------------------------------------------------
    def set_history(self, history: RunHistory) -> None:
        self.history = history
        self._drawn_key = None

    def set_x_mode(self, mode: str) -> None:
        self.x_mode = mode
        self._drawn_key = None
        self.refresh()
        self.reset_view()

    def set_step_extent(self, steps: int) -> None:
        """The planned length of the run (0: unknown)."""
        self.step_extent = steps
        self.reset_view()

    def reset_view(self) -> None:
        """Undo the user's zoom and pan: y fits the data, x follows the run."""
        self.following = True
        self.enableAutoRange(y=True)
        self.getPlotItem().vb.enableAutoRange(x=False)
        self._follow(force=True)

    def data_x_max(self) -> float:
        xs = _x_values(self.history, "steps", self.x_mode)
        return float(np.nanmax(xs)) if len(xs) else 0.0

    def _follow(self, force: bool = False) -> None:
        if not self.following:
            return
        end = nice_ceiling(self.data_x_max())
        if self.x_mode == "step" and self.step_extent:
            end = min(end, max(self.step_extent, self.data_x_max()))
        (_, current), _ = self.getPlotItem().vb.viewRange()
        if force or end > current * (1 + 1e-9) or end < current * 0.45:
            self.setXRange(0, end, padding=0.02)

    def _on_range_changed_manually(self, *_) -> None:
        self.following = False

    def refresh(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class LossPlot(LivePlot):
    """Train and validation loss of the current run, plus earlier runs drawn on the same axes."""

    step_clicked = Signal(int)  # the training step nearest to a click on the curve
    hovered = Signal(str)  # the values under the mouse, "" when it leaves the curve

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("lossPlot")
        self.y_mode = "loss"
        self.smoothing = 0.6
        self._overlays: dict[str, tuple[RunHistory, pg.PlotDataItem, pg.PlotDataItem]] = {}
        self.extra_x_max = 0.0  # where other drawn data ends (a published curve: reference_plot)
        item = self.getPlotItem()
        item.setLabel("left", Y_MODES["loss"])
        item.setLabel("bottom", X_MODES["step"])
        self.legend = item.addLegend(offset=(-10, 10))
        self._train_raw = self._curve()
        self._train = self._curve("train")
        self._val = self._curve("validation")
        self._val.setSymbol("o")
        self._val.setSymbolSize(6)
        self._val.setSymbolPen(None)
        self._cursor = pg.InfiniteLine(angle=90, movable=False)
        self._cursor.setVisible(False)
        item.addItem(self._cursor, ignoreBounds=True)
        self.hover_text = ""
        self.apply_theme(plot_theme())
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.scene().sigMouseClicked.connect(self._on_mouse_clicked)

    def apply_theme(self, theme: PlotTheme) -> None:
        """Colour everything for a light or dark palette (also when the system switches)."""
        self._style(theme)
        self.legend.setLabelTextColor(theme.foreground)
        for _, label in self.legend.items:  # the colour only applies when the text is set
            label.setText(label.text)
        self._train_raw.setPen(_pen(theme.train, width=1.0, alpha=theme.raw_alpha))
        self._train.setPen(_pen(theme.train))
        self._val.setPen(_pen(theme.val))
        self._val.setSymbolBrush(pg.mkBrush(theme.val))
        self._cursor.setPen(pg.mkPen(theme.foreground, width=1, style=Qt.PenStyle.DotLine))
        for i, (_, train, val) in enumerate(self._overlays.values()):
            color = theme.overlays[i % len(theme.overlays)]
            train.setPen(_pen(color, width=1.0))
            val.setPen(_pen(color, width=1.0, dashed=True))

    # -- options -------------------------------------------------------------------------------
    def set_x_mode(self, mode: str) -> None:
        self.setLabel("bottom", X_MODES[mode], color=self.theme.foreground)
        super().set_x_mode(mode)

    def set_y_mode(self, mode: str) -> None:
        self.y_mode = mode
        self.setLabel("left", Y_MODES[mode], color=self.theme.foreground)
        self._drawn_key = None
        self.refresh()
        self.reset_view()

    def set_log_y(self, on: bool) -> None:
        self.setLogMode(x=False, y=on)
        self.reset_view()

    def set_smoothing(self, smoothing: float) -> None:
        self.smoothing = smoothing
        self._drawn_key = None
        self.refresh()

    def add_overlay(self, name: str, history: RunHistory) -> None:
        """Draw another run's curves (smoothed train solid, validation dashed) in its own colour."""
        self.remove_overlay(name)
        self._overlays[name] = (history, self._curve(f"{name} (train)"),
                                self._curve(f"{name} (val)"))
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

    def data_x_max(self) -> float:
        ends = [super().data_x_max(), self.extra_x_max]
        ends += [float(np.nanmax(_x_values(h, "steps", self.x_mode)))
                 for h, *_ in self._overlays.values() if len(h.steps)]
        return max(ends)

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
        overlays = tuple((n, h.version) for n, (h, *_) in self._overlays.items())
        key = (self.history.version, overlays, self.x_mode, self.y_mode, self.smoothing)
        if key == self._drawn_key:
            return
        self._drawn_key = key
        self._draw_run(self.history, self._train, self._val, self._train_raw)
        for history, train, val in self._overlays.values():
            self._draw_run(history, train, val, None)
        self._follow()

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

    # -- hover and click -----------------------------------------------------------------------
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
            self.hover_text = ""
            self.hovered.emit("")
            return
        h = self.history
        step = int(h.steps.column("step")[i])
        loss = h.steps.column("loss")[i]
        smooth = ema(h.steps.column("loss")[: i + 1][-2000:], self.smoothing)[-1]
        parts = [f"step {step:,}", f"{human_tokens(h.steps.column('tokens')[i])} tokens",
                 clock(h.steps.column("elapsed")[i]),
                 f"train {loss:.4f} (smoothed {smooth:.4f})"]
        evals = h.evals.column("step")
        if len(evals):
            j = int(np.argmin(np.abs(evals - step)))
            parts.append(f"val {h.evals.column('val_loss')[j]:.4f} at step {int(evals[j]):,}")
        # Shown above the plot by the Train tab, so it never hides the curve.
        self.hover_text = "  ·  ".join(parts)
        self._cursor.setPos(_x_values(h, "steps", self.x_mode)[i])
        self._cursor.setVisible(True)
        self.hovered.emit(self.hover_text)

    def _on_mouse_clicked(self, event) -> None:
        i = self._nearest_step_index(event.scenePos())
        if i is not None:
            self.step_clicked.emit(int(self.history.steps.column("step")[i]))


class MetricPlot(LivePlot):
    """One per-step metric (learning rate, gradient norm, tokens/s) of the current run."""

    def __init__(self, column: str, title: str, parent=None) -> None:
        super().__init__(parent)
        self.column = column
        self.title = title
        self._line = self._curve()
        self.apply_theme(plot_theme())

    def apply_theme(self, theme: PlotTheme) -> None:
        self._style(theme)
        self.getPlotItem().showGrid(x=False, y=False)  # small plots read fine without; cheaper
        self.getPlotItem().setTitle(self.title, color=theme.foreground, size="10pt")
        # Width 1: a wider pen makes a repaint of this jagged curve several times slower.
        self._line.setPen(_pen(theme.train, width=1.0))

    def refresh(self) -> None:
        key = (self.history.version, self.x_mode)
        if key == self._drawn_key:
            return
        self._drawn_key = key
        h = self.history
        self._line.setData(_x_values(h, "steps", self.x_mode), h.steps.column(self.column),
                           connect="finite")
        self._follow()


def human_tokens(n: float) -> str:
    """12_345 -> '12.3k'."""
    if not math.isfinite(n):
        return "?"
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{int(n)}"


def clock(seconds: float) -> str:
    """75 -> '1:15'; 3725 -> '1:02:05'."""
    if not math.isfinite(seconds):
        return "?"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"
