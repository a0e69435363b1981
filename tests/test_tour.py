"""The first-run tour: its steps, walking it to the end, leaving it at any step, never blocking
the window, offered once, and never by itself in a window a test makes."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QWidget

from gptstudio.ui.tour import TourPanel, parse_steps, tour_steps
from gptstudio.ui.widgets.highlight import highlights
from tests.ui_fixtures import *  # noqa: F401, F403
from tests.ui_fixtures import QT_WARNINGS_FAIL, current_tab, model_box

pytestmark = QT_WARNINGS_FAIL
JOURNEY = ["setup", "tokenizer", "train", "train", "attention", "generate"]


def open_tour(w):
    w.findChild(QAction, "tourAction").trigger()  # Help > Tour
    return w.tour


def tab_key_of(w, widget: QWidget) -> str:
    return next(key for key in JOURNEY if w.tab(key).isAncestorOf(widget))


def test_the_steps_are_data_each_a_sentence_and_a_widget():
    steps = tour_steps()
    assert 5 <= len(steps) <= 6
    for step in steps:
        assert step.title and step.widget and step.text and "widget:" not in step.text
    assert "below 1.8" in steps[3].text  # the run is watched until it writes words
    parsed = parse_steps("intro\n## One\nwidget: a\nFirst.\n## Two\nSecond.\n")
    assert [(s.title, s.widget, s.text) for s in parsed] == [("One", "a", "First."),
                                                             ("Two", "", "Second.")]


def test_a_window_never_opens_the_tour_by_itself(window):
    assert all(not p.isVisible() for p in window.findChildren(TourPanel))
    assert highlights(window) == []


def test_the_tour_walks_through_every_tab_to_the_end(window):
    tour = open_tour(window)
    panel = tour.panel
    seen = []
    for index in range(len(tour.steps)):
        assert panel.isVisible() and panel.counter.text() == f"{index + 1} / {len(tour.steps)}"
        step = tour.steps[index]
        assert step.title in panel.title.text()
        frames = highlights(window)
        assert [f.target.objectName() for f in frames] == [step.widget]
        target = frames[0].target
        assert target.isVisible()  # its tab was brought forward
        assert current_tab(window).isAncestorOf(target)
        seen.append(tab_key_of(window, target))
        assert panel.back.isEnabled() == (index > 0)
        assert QApplication.activeModalWidget() is None  # never blocks the app
        if index == len(tour.steps) - 1:
            assert panel.next.text() == "Finish"
        panel.next.click()
    assert seen == JOURNEY
    assert not panel.isVisible() and not tour.active and highlights(window) == []


def test_back_returns_to_the_previous_step(window):
    tour = open_tour(window)
    tour.panel.next.click()
    tour.panel.next.click()
    tour.panel.back.click()
    assert tour.index == 1
    assert [f.target.objectName() for f in highlights(window)] == [tour.steps[1].widget]


@pytest.mark.parametrize("index", range(6))
def test_the_tour_can_be_left_at_any_step(window, index):
    tour = open_tour(window)
    for _ in range(index):
        tour.panel.next.click()
    assert tour.index == index
    tour.panel.leave.click()
    assert not tour.panel.isVisible() and not tour.active
    assert highlights(window) == []
    open_tour(window)  # Help > Tour starts it again, from the first step
    assert tour.index == 0 and tour.panel.isVisible()


def test_the_window_stays_usable_while_the_tour_is_open(window):
    open_tour(window)
    model_box(window).set_preset("nano")
    assert model_box(window).preset_name() == "nano"
    assert window.tour.panel.isVisible()


def test_the_first_run_offer_comes_once(window):
    from gptstudio.ui.tour import offer_tour

    assert offer_tour(window, window.settings)
    assert window.tour.panel.isVisible() and window.tour.index == 0
    window.tour.leave()
    assert not offer_tour(window, window.settings)
    assert not window.tour.panel.isVisible()
