"""Plots and their data: numpy histories, smoothing, the loss plot's options, hover and click."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import QLabel

from tests.ui_fixtures import *  # noqa: F403 - fixtures
from tests.ui_fixtures import QT_WARNINGS_FAIL, loss_plot, samples, show_history

pytestmark = QT_WARNINGS_FAIL


def _history(n: int, name: str = "run", evals_every: int = 10):
    from gptstudio.ui.history import RunHistory

    h = RunHistory(name=name)
    for step in range(1, n + 1):
        h.add_step(step=step, tokens=step * 256, elapsed=step * 0.01, loss=4.0 / math.sqrt(step),
                   lr=1e-3, grad_norm=1.0, tokens_per_s=25_600)
        if step % evals_every == 0:
            h.add_eval(step=step, tokens=step * 256, elapsed=step * 0.01,
                       train_loss=4.0 / math.sqrt(step), val_loss=4.2 / math.sqrt(step),
                       train_bpb=4.0 / math.sqrt(step) / math.log(2) / 2.0,
                       val_bpb=4.2 / math.sqrt(step) / math.log(2) / 2.0)
            h.add_sample(step, f"text at {step}")
    return h


# -- history and smoothing -----------------------------------------------------------------------
def test_ema_matches_the_recurrence():
    from gptstudio.ui.widgets.smoothing import ema

    rng = np.random.default_rng(0)
    x = rng.random(1000)
    expected, y = [], x[0]
    for value in x:
        y = 0.9 * y + 0.1 * value
        expected.append(y)
    np.testing.assert_allclose(ema(x, 0.9), expected, rtol=1e-12)
    np.testing.assert_array_equal(ema(x, 0.0), x)


def test_ema_carries_over_nan_losses():
    from gptstudio.ui.widgets.smoothing import ema

    smoothed = ema(np.array([np.nan, 2.0, np.nan, 4.0]), 0.5)
    assert np.isfinite(smoothed).all()
    np.testing.assert_allclose(smoothed, [2.0, 2.0, 2.0, 3.0])


def test_history_grows_past_its_capacity_and_keeps_order():
    h = _history(5000)
    steps = h.steps.column("step")
    assert len(steps) == 5000 and steps[0] == 1 and steps[-1] == 5000
    assert h.at_step(100) == (100 * 256, pytest.approx(1.0))


def test_history_learns_bytes_per_token_from_an_evaluation():
    h = _history(20)
    assert h.bytes_per_token == pytest.approx(2.0)
    np.testing.assert_allclose(h.to_bpb(np.array([math.log(2) * 2.0])), [1.0])


def test_a_repeated_step_replaces_what_came_after_it():
    h = _history(30)
    h.add_step(step=21, tokens=0, elapsed=0, loss=9.0, lr=0, grad_norm=0, tokens_per_s=0)
    assert list(h.steps.column("step")) == list(range(1, 22))
    assert list(h.evals.column("step")) == [10, 20]
    assert [s for s, _ in h.samples] == [10, 20]


def test_csv_export_has_a_row_per_step_with_evaluations_merged():
    lines = _history(20).to_csv().splitlines()
    assert lines[0].startswith("step,tokens,elapsed,loss,lr,grad_norm,tokens_per_s")
    assert len(lines) == 21
    row10 = lines[10].split(",")
    assert row10[0] == "10" and row10[8] != ""  # val loss present at an evaluation
    assert lines[9].split(",")[8] == ""


# -- the loss plot -------------------------------------------------------------------------------
@pytest.fixture
def plot(qtbot):
    from gptstudio.ui.widgets.plots import LossPlot

    p = LossPlot()
    qtbot.addWidget(p)
    p.resize(600, 400)
    p.show()
    qtbot.waitExposed(p)
    return p


def test_loss_plot_draws_100k_points_and_switches_axes(plot):
    h = _history(100_000, evals_every=1000)
    plot.set_history(h)
    plot.refresh()
    assert plot.points() == 100_000
    x, _ = plot._train.getOriginalDataset()
    assert x[-1] == 100_000
    plot.set_x_mode("tokens")
    assert plot._train.getOriginalDataset()[0][-1] == 100_000 * 256
    plot.set_x_mode("elapsed")
    assert plot._train.getOriginalDataset()[0][-1] == pytest.approx(1000.0)
    plot.set_y_mode("bpb")
    _, y = plot._val.getOriginalDataset()
    np.testing.assert_allclose(y, h.evals.column("val_bpb"))
    plot.set_log_y(True)
    assert plot.getPlotItem().ctrl.logYCheck.isChecked()


def test_smoothing_changes_the_train_curve_but_not_the_raw_one(plot):
    plot.set_history(_history(200))
    plot.set_smoothing(0.0)
    raw = plot._train.getOriginalDataset()[1].copy()
    plot.set_smoothing(0.95)
    smoothed = plot._train.getOriginalDataset()[1]
    assert not np.allclose(raw, smoothed)
    np.testing.assert_allclose(plot._train_raw.getOriginalDataset()[1], raw)


def test_refresh_does_nothing_when_nothing_changed(plot):
    h = _history(50)
    plot.set_history(h)
    plot.refresh()
    key = plot._drawn_key
    plot.refresh()
    assert plot._drawn_key is key
    h.add_step(step=51, tokens=0, elapsed=0, loss=1.0, lr=0, grad_norm=0, tokens_per_s=0)
    plot.refresh()
    assert plot.points() == 51


def _scene_point(plot, x: float, y: float) -> QPointF:
    return plot.getPlotItem().vb.mapViewToScene(QPointF(x, y))


def test_hover_shows_the_values_at_the_nearest_step(plot):
    plot.set_history(_history(100))
    plot.refresh()
    plot.getPlotItem().vb.autoRange()
    plot._on_mouse_moved(_scene_point(plot, 40.2, 1.0))
    assert plot.hover_text.startswith("step 40 ")
    assert f"train {4.0 / math.sqrt(40):.4f}" in plot.hover_text
    assert "val " in plot.hover_text and plot._cursor.isVisible()


def test_the_x_axis_follows_the_run_in_1_2_5_steps(plot):
    from gptstudio.ui.widgets.plots import nice_ceiling

    assert [nice_ceiling(v) for v in (0, 3, 10, 11, 150, 201, 4999)] == \
        [1, 5, 10, 20, 200, 500, 5000]
    h = _history(30)
    plot.set_history(h)
    plot.set_step_extent(2000)
    plot.refresh()
    (_, end), _ = plot.getPlotItem().vb.viewRange()
    assert 50 <= end <= 52  # 30 steps shown on an axis to 50 (+2% padding), not to 2000
    for step in range(31, 61):
        h.add_step(step=step, tokens=0, elapsed=0, loss=1.0, lr=0, grad_norm=0, tokens_per_s=0)
    plot.refresh()
    (_, end), _ = plot.getPlotItem().vb.viewRange()
    assert 100 <= end <= 102
    plot.getPlotItem().vb.sigRangeChangedManually.emit([True, True])  # the user zooms
    assert not plot.following
    plot.reset_view()
    assert plot.following


def test_clicking_the_curve_selects_the_nearest_sample(window, qtbot):
    show_history(window, _history(100), max_steps=100)
    plot = loss_plot(window)
    scene = _scene_point(plot, 49.0, 0.8)
    view_pos = plot.mapFromScene(scene)
    qtbot.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton, pos=view_pos)
    assert samples(window).shown_text().endswith("text at 50")
    assert samples(window).list.currentItem().text().startswith("step 50:")
    plot._on_mouse_moved(scene)  # hovering writes the values above the plot
    assert window.findChild(QLabel, "plotReadout").text().startswith("step 49 ")


def test_earlier_runs_can_be_overlaid(plot):
    plot.set_history(_history(50))
    plot.add_overlay("lstm baseline", _history(80, name="lstm"))
    plot.refresh()
    assert plot.overlay_names() == ["lstm baseline"]
    _, train, val = plot._overlays["lstm baseline"]
    assert len(train.getOriginalDataset()[0]) == 80 and len(val.getOriginalDataset()[0]) == 8
    plot.remove_overlay("lstm baseline")
    assert plot.overlay_names() == []
