"""The Train tab's plots: the loss curve with its options, and the small lr / norm / speed plots.

All of them draw one `RunHistory`. `redraw()` is called by the tab's ~30 Hz timer and repaints
at slower, separate rates, because a repaint costs the GUI thread milliseconds of Python taken
from the training thread (they share the GIL; docs/MEASUREMENTS.md, "App"): the loss plot at
most 4 times a second, each small plot in turn every 1.5 s.
Left out: what fills the history (the tab) and drawing itself (`widgets/plots.py`).
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import QCheckBox, QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, \
    QWidget

from gptstudio.ui.history import RunHistory
from gptstudio.ui.theme import PlotTheme
from gptstudio.ui.widgets.plots import LossPlot, MetricPlot
from gptstudio.ui.widgets.reference_plot import ReferenceOverlay

HOVER_HINT = "Point at the loss curve to read its values; click it to see that step's sample."
LOSS_PLOT_EVERY_S = 0.25
METRIC_PLOTS_EVERY_S = 1.5
X_MODES = (("step", "Step"), ("tokens", "Tokens seen"), ("elapsed", "Wall time"))


class PlotsPanel(QWidget):
    """`step_clicked(step)` when the loss curve is clicked (the tab shows that step's sample)."""

    step_clicked = Signal(int)

    def __init__(self, history: RunHistory, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._loss_drawn_at = self._metrics_drawn_at = 0.0  # time.monotonic() of the last draw
        self._next_metric = 0
        self.loss_plot = LossPlot()
        self.loss_plot.set_history(history)
        self.metric_plots = [MetricPlot("lr", "learning rate"),
                             MetricPlot("grad_norm", "gradient norm"),
                             MetricPlot("tokens_per_s", "tokens / s")]
        for plot in self.metric_plots:
            plot.set_history(history)
            plot.setMinimumHeight(120)
        self.x_mode = QComboBox()
        self.x_mode.setObjectName("xModeSelector")
        for key, label in X_MODES:
            self.x_mode.addItem(label, key)
        self.y_mode = QComboBox()
        self.y_mode.setObjectName("yModeSelector")
        self.y_mode.addItem("Loss", "loss")
        self.y_mode.addItem("Bits per byte", "bpb")
        self.y_mode.setToolTip("Bits per byte compares runs with different tokenizers fairly.")
        self.log_y = QCheckBox("Log scale")
        self.log_y.setObjectName("logScaleToggle")
        self.smoothing = QSlider(Qt.Orientation.Horizontal)
        self.smoothing.setObjectName("smoothingSlider")
        self.smoothing.setRange(0, 99)
        self.smoothing.setValue(int(self.loss_plot.smoothing * 100))
        self.smoothing.setMaximumWidth(160)
        self.smoothing_label = QLabel()
        self._on_smoothing_changed(self.smoothing.value())
        self.reference = ReferenceOverlay(self.loss_plot)  # a published run's losses
        self.reference_toggle = QCheckBox()
        self.reference_toggle.setObjectName("referenceToggle")
        self.reference_toggle.setChecked(True)
        self.reference_toggle.hide()
        self.readout = QLabel(HOVER_HINT)  # the values under the mouse on the loss plot
        self.readout.setObjectName("plotReadout")
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        options = QHBoxLayout()
        for widget in (QLabel("x:"), self.x_mode, QLabel("y:"), self.y_mode, self.log_y,
                       self.reference_toggle):
            options.addWidget(widget)
        options.addSpacing(12)
        for widget in (QLabel("Smoothing"), self.smoothing, self.smoothing_label):
            options.addWidget(widget)
        options.addStretch(1)
        metrics_row = QHBoxLayout()
        for plot in self.metric_plots:
            metrics_row.addWidget(plot)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(options)
        layout.addWidget(self.readout)
        layout.addWidget(self.loss_plot, 3)
        layout.addLayout(metrics_row, 1)

        self.x_mode.currentIndexChanged.connect(self._on_x_mode_changed)
        self.y_mode.currentIndexChanged.connect(self._on_y_mode_changed)
        self.log_y.toggled.connect(self.loss_plot.set_log_y)
        self.reference_toggle.toggled.connect(self.reference.set_visible)
        self.smoothing.valueChanged.connect(self._on_smoothing_changed)
        self.loss_plot.step_clicked.connect(self.step_clicked)
        self.loss_plot.hovered.connect(self._on_plot_hovered)

    @property
    def plots(self) -> list[LossPlot | MetricPlot]:
        return [self.loss_plot, *self.metric_plots]

    def set_step_extent(self, steps: int) -> None:
        for plot in self.plots:
            plot.set_step_extent(steps)

    def reset_zoom(self) -> None:
        for plot in self.plots:
            plot.reset_view()

    def apply_theme(self, theme: PlotTheme) -> None:
        for plot in self.plots:
            plot.apply_theme(theme)
        self.reference.apply_theme(theme)

    @Slot(object)
    def show_reference(self, curve) -> None:
        """Draw a published run's losses (a core.train.book.ReferenceCurve; None: remove)."""
        self.reference.set_curve(curve)
        if curve is not None:
            self.reference_toggle.setText(f"Show {curve.name}")
            self.reference_toggle.setToolTip(f"{curve.source}: {curve.note}.")
            self.reference_toggle.setChecked(True)
        self.reference_toggle.setVisible(curve is not None)

    def redraw(self, force: bool = False) -> None:
        """Push new points to the plots, each at its own rate (`force`: all of them now)."""
        now = time.monotonic()
        if force:
            self._loss_drawn_at = self._metrics_drawn_at = 0.0
        if now - self._loss_drawn_at >= LOSS_PLOT_EVERY_S:
            self._loss_drawn_at = now
            self.loss_plot.refresh()
        if now - self._metrics_drawn_at >= METRIC_PLOTS_EVERY_S / len(self.metric_plots):
            # One small plot per turn, so no single tick repaints all of them.
            self._metrics_drawn_at = now
            self._next_metric = (self._next_metric + 1) % len(self.metric_plots)
            for plot in self.metric_plots if force else [self.metric_plots[self._next_metric]]:
                plot.refresh()

    @Slot(int)
    def _on_x_mode_changed(self, _index: int) -> None:
        mode = str(self.x_mode.currentData())
        for plot in self.plots:
            plot.set_x_mode(mode)
        self.reference.redraw()
        self.loss_plot.reset_view()  # again: the published points are now in the new units

    @Slot(int)
    def _on_y_mode_changed(self, _index: int) -> None:
        self.loss_plot.set_y_mode(str(self.y_mode.currentData()))
        self.reference.redraw()

    @Slot(int)
    def _on_smoothing_changed(self, value: int) -> None:
        self.smoothing_label.setText(f"{value / 100:.2f}")
        self.loss_plot.set_smoothing(value / 100)

    @Slot(str)
    def _on_plot_hovered(self, text: str) -> None:
        self.readout.setText(text or HOVER_HINT)
