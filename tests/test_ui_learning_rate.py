"""Changing the peak learning rate from the Train tab while a run trains or is paused.

The engine rescales the whole warmup+cosine schedule (floor included) so that its peak becomes the
new value, from the next step on. So every recorded learning rate divided by the configured
schedule's value at that step is 1 before a change and new/old after it. Runs are tiny (nano
preset, batch 4) and every wait is on a signal or a condition, never a sleep.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPalette
from PySide6.QtTest import QSignalSpy
from PySide6.QtWidgets import QLabel, QLineEdit, QPushButton

from tests.ui_fixtures import *  # noqa: F403 - fixtures
from tests.ui_fixtures import (QT_WARNINGS_FAIL, controls, history, open_run, run_dir, runs,
                               setup_tab, small_setup, start_training, stop_training,
                               toggle_pause, training_state, wait_for_idle, wait_status,
                               wait_step)

pytestmark = QT_WARNINGS_FAIL


def _lr_widgets(window) -> tuple[QLineEdit, QPushButton]:
    edit = window.findChild(QLineEdit, "peakLrEdit")
    button = window.findChild(QPushButton, "applyLrButton")
    assert edit is not None and button is not None
    return edit, button


def _lr_error(window) -> QLabel:
    return window.findChild(QLabel, "peakLrError")


def _type(qtbot, edit: QLineEdit, text: str) -> None:
    """Replace the field's text the way a user does: select all, type."""
    edit.selectAll()
    qtbot.keyClick(edit, Qt.Key.Key_Delete)
    if text:
        qtbot.keyClicks(edit, text)
    assert edit.text() == text


def _ratios(window, config) -> tuple[np.ndarray, np.ndarray]:
    """(steps, recorded lr / the configured schedule's lr) for every step in the Train tab's
    history (the `lr` column the learning-rate plot draws). Step event k ran schedule step k-1."""
    from gptstudio.core.train.schedule import learning_rate_at

    curves = history(window)
    steps = curves.steps.column("step").astype(int).copy()
    recorded = curves.steps.column("lr").copy()
    configured = np.array([learning_rate_at(
        int(k) - 1, peak_lr=config.learning_rate, min_lr=config.min_lr,
        warmup_steps=config.warmup_steps, decay_steps=config.decay_steps) for k in steps])
    return steps, recorded / configured


def test_the_lr_control_is_enabled_only_while_training_or_paused(window, qtbot):
    from gptstudio.ui.services.state import PAUSED, PREPARING, TRAINING

    edit, button = _lr_widgets(window)
    assert not edit.isEnabled() and not button.isEnabled()  # idle
    small_setup(window, steps=5000, eval_interval=1000)
    config = setup_tab(window).train_config()
    with wait_step(qtbot, window):
        assert start_training(window)
        assert training_state(window) == PREPARING
        assert not edit.isEnabled() and not button.isEnabled()  # no trainer to tune yet
    assert training_state(window) == TRAINING
    assert edit.isEnabled() and button.isEnabled()
    assert float(edit.text()) == pytest.approx(config.learning_rate)  # the run's configured peak
    with wait_status(qtbot, window, "paused"):
        toggle_pause(window)
    assert training_state(window) == PAUSED
    assert edit.isEnabled() and button.isEnabled()
    stop_training(window)
    assert not edit.isEnabled() and not button.isEnabled()  # stopping
    wait_for_idle(qtbot, window)
    assert not edit.isEnabled() and not button.isEnabled()


def test_a_new_peak_rescales_the_schedule_from_the_next_step(window, qtbot):
    small_setup(window, steps=5000, eval_interval=1000)
    config = setup_tab(window).train_config()
    old = config.learning_rate
    assert config.grad_accum == 1  # a pause always falls between two steps
    edit, button = _lr_widgets(window)
    requested: list[float] = []
    controls(window).learning_rate_requested.connect(requested.append)
    with wait_step(qtbot, window):
        start_training(window)

    # 1. While training: click Apply. The trainer takes the new peak at the start of a step that
    # is at least the next one after the last step shown when clicking.
    new = old / 4
    _type(qtbot, edit, f"{new:g}")
    shown_before = int(history(window).steps.last("step"))
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert requested == [pytest.approx(new)]
    assert not _lr_error(window).isVisible()

    def rescaled() -> bool:
        steps, ratios = _ratios(window, config)
        return len(ratios) > 0 and np.isclose(ratios[-1], new / old, rtol=1e-9)

    qtbot.waitUntil(rescaled, timeout=30_000)  # times out if the change were ignored
    steps, ratios = _ratios(window, config)
    is_old = np.isclose(ratios, 1.0, rtol=1e-9)
    is_new = np.isclose(ratios, new / old, rtol=1e-9)
    assert (is_old | is_new).all(), ratios  # every step follows one schedule or the other
    first_new = int(np.argmax(is_new))
    assert is_old[:first_new].all() and is_new[first_new:].all()  # switched once, for good
    assert steps[first_new] > shown_before  # never applied to a step that had already run

    # 2. While paused: Enter in the field. The first step after resuming uses the new peak,
    # every step before it the previous one.
    with wait_status(qtbot, window, "paused") as paused:
        qtbot.mouseClick(window.findChild(QPushButton, "pauseButton"),
                         Qt.MouseButton.LeftButton)
    paused_at = paused.args[0].step
    qtbot.waitUntil(lambda: history(window).steps.last("step") == paused_at, timeout=15_000)
    assert edit.isEnabled() and button.isEnabled()
    third = old / 2
    _type(qtbot, edit, f"{third:g}")
    with qtbot.waitSignal(controls(window).learning_rate_requested, timeout=1_000) as applied:
        qtbot.keyClick(edit, Qt.Key.Key_Return)
    assert applied.args == [pytest.approx(third)]
    with wait_step(qtbot, window, timeout=30_000) as resumed:
        qtbot.mouseClick(window.findChild(QPushButton, "pauseButton"),
                         Qt.MouseButton.LeftButton)  # now labelled Resume
    assert resumed.args[0].step == paused_at + 1
    stop_training(window)
    wait_for_idle(qtbot, window)

    steps, ratios = _ratios(window, config)
    before = steps <= paused_at
    assert np.isclose(ratios[before][first_new:], new / old, rtol=1e-9).all(), ratios
    assert np.isclose(ratios[~before], third / old, rtol=1e-9).all(), ratios
    assert (~before).any()
    assert requested == [pytest.approx(new), pytest.approx(third)]


@pytest.mark.parametrize("text, expected", [
    ("fast", "must be a number"),
    ("0,5e-3", "with a point"),
    ("", "must be a number"),
    ("0", "above 0"),
    ("-3e-4", "above 0"),
    ("nan", "finite"),
    ("inf", "finite"),
    ("2", "at most 1"),
])
def test_bad_input_is_shown_in_red_and_emits_nothing(qtbot, text, expected):
    from gptstudio.ui.services.state import PAUSED, TRAINING
    from gptstudio.ui.tabs.train.controls import TrainControls
    from gptstudio.ui.theme import plot_theme

    tab = TrainControls()  # the Train tab's control row, on its own
    qtbot.addWidget(tab)
    tab.show()
    qtbot.waitExposed(tab)
    tab.set_state(TRAINING)
    tab.begin_run(100, peak_lr=1e-3)
    assert tab.peak_lr.text() == "0.001"
    spy = QSignalSpy(tab.learning_rate_requested)
    error = tab.findChild(type(tab.lr_error), "peakLrError")
    assert error is tab.lr_error and not error.isVisible()

    _type(qtbot, tab.peak_lr, text)
    qtbot.mouseClick(tab.apply_lr, Qt.MouseButton.LeftButton)
    assert spy.count() == 0
    assert error.isVisible() and expected in error.text(), error.text()
    red = QColor(plot_theme().error)
    assert error.palette().color(QPalette.ColorRole.WindowText) == red
    qtbot.keyClick(tab.peak_lr, Qt.Key.Key_Return)  # Enter is refused the same way
    assert spy.count() == 0 and error.isVisible()

    # Typing hides the stale message; a good value is emitted (Apply and Enter alike).
    _type(qtbot, tab.peak_lr, "3e-4")
    assert not error.isVisible()
    qtbot.keyClick(tab.peak_lr, Qt.Key.Key_Return)
    qtbot.mouseClick(tab.apply_lr, Qt.MouseButton.LeftButton)
    assert spy.count() == 2
    assert [spy.at(i)[0] for i in range(2)] == [pytest.approx(3e-4)] * 2
    tab.set_state(PAUSED)
    tab.peak_lr.setText("0.0005")
    qtbot.mouseClick(tab.apply_lr, Qt.MouseButton.LeftButton)
    assert spy.count() == 3 and spy.at(2)[0] == pytest.approx(5e-4)


def test_a_resumed_run_shows_the_peak_it_carries_on_with(make_window, qtbot):
    first = make_window()
    small_setup(first, steps=5000, eval_interval=1000)
    config = setup_tab(first).train_config()
    new = config.learning_rate / 5
    with wait_step(qtbot, first):
        start_training(first)
    edit, button = _lr_widgets(first)
    _type(qtbot, edit, f"{new:g}")
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: np.isclose(_ratios(first, config)[1][-1], new / config.learning_rate,
                                       rtol=1e-9), timeout=30_000)
    stop_training(first)  # the checkpoint holds the new peak
    wait_for_idle(qtbot, first)
    run = run_dir(first)
    first.close()

    second = make_window()
    with qtbot.waitSignal(runs(second).run_opened):
        assert open_run(second, run)
    with wait_step(qtbot, second):
        assert start_training(second)
    resumed_config = setup_tab(second).train_config()
    assert _ratios(second, resumed_config)[1][-1] == pytest.approx(new / config.learning_rate)
    edit, _ = _lr_widgets(second)
    assert float(edit.text()) == pytest.approx(new)  # not Setup's configured peak
    stop_training(second)
    wait_for_idle(qtbot, second)
