"""Learn mode's links: `widget:` frames a widget, `set:` changes a control as a user would,
`try:` runs what a tab registered; a missing target says so. Links are followed the way a click
on them is: through the text browser's `anchorClicked`."""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QApplication, QDoubleSpinBox, QWidget

from gptstudio.ui.widgets.highlight import highlights
from gptstudio.ui.widgets.learn_panel import LearnPanel
from tests.ui_fixtures import *  # noqa: F401, F403
from tests.ui_fixtures import QT_WARNINGS_FAIL, current_tab, data, loss_plot, model_box, \
    setup_tab, show_tab, train_tab, training_box

pytestmark = QT_WARNINGS_FAIL


def panel_of(w, key: str) -> LearnPanel:
    return w.tab(key).findChild(LearnPanel, "learnPanel")


def click_link(panel: LearnPanel, href: str) -> None:
    assert href in panel.links(), f"{href} is not a link of the {panel.key} panel"
    panel.browser.anchorClicked.emit(QUrl(href))


def framed(w) -> list[str]:
    return [h.target.objectName() for h in highlights(w)]


def test_a_set_link_changes_the_named_control_and_frames_it(window):
    show_tab(window, "generate")
    spin = window.findChild(QDoubleSpinBox, "temperatureSpin")
    spin.setValue(0.8)
    click_link(panel_of(window, "generate"), "set:temperatureSpin=1.5")
    assert spin.value() == 1.5
    assert framed(window) == ["temperatureSpin"]
    frame = highlights(window)[0]
    top_left = spin.mapTo(window, spin.rect().topLeft())
    assert frame.geometry().contains(top_left) and frame.isVisible()


def test_a_set_link_acts_like_the_user_a_choice_the_plot_follows(window):
    show_tab(window, "train")
    assert loss_plot(window).y_mode == "loss"
    click_link(panel_of(window, "train"), "set:yModeSelector=bpb")
    assert loss_plot(window).y_mode == "bpb"
    click_link(panel_of(window, "train"), "set:logScaleToggle=on")
    assert train_tab(window).plots.log_y.isChecked()


def test_a_set_link_into_the_setup_form_goes_through_its_validation(window):
    show_tab(window, "train")
    click_link(panel_of(window, "train"), "set:learning_rateField=0.5")
    assert current_tab(window) is setup_tab(window)  # the field's tab came forward
    assert training_box(window).config().learning_rate == 0.5
    assert framed(window) == ["learning_rateField"]


def test_a_widget_link_frames_the_widget_briefly_without_blocking(window):
    show_tab(window, "train")
    click_link(panel_of(window, "train"), "widget:lossPlot")
    assert framed(window) == ["lossPlot"]
    assert QApplication.activeModalWidget() is None
    frame = highlights(window)[0]
    plot = loss_plot(window)
    assert frame.geometry().contains(plot.mapTo(window, plot.rect().center()))
    frame.clear()
    assert framed(window) == []


def test_a_widget_link_to_another_page_brings_it_forward(window):
    show_tab(window, "tokenizer")
    stride = window.findChild(QWidget, "strideSpin")
    assert not stride.isVisible()  # on the Windows page, not the first one
    click_link(panel_of(window, "tokenizer"), "widget:strideSpin")
    assert stride.isVisible() and framed(window) == ["strideSpin"]


def test_a_try_link_sets_up_the_copy_task(window, qtbot):
    show_tab(window, "attention")
    with qtbot.waitSignal(data(window).corpus_changed, timeout=30_000):
        click_link(panel_of(window, "attention"), "try:copy-task")
    assert data(window).corpus_spec == "builtin:copy"
    qtbot.waitUntil(lambda: data(window).tokenizer is not None
                    and data(window).tokenizer_spec == "char", timeout=30_000)
    assert model_box(window).preset_name() == "nano"
    assert training_box(window).config().max_steps == 600
    assert "Copy task" in setup_tab(window).links.note.text()
    assert not setup_tab(window).problems()


def test_a_link_whose_target_is_missing_says_so(window):
    panel = panel_of(window, "train")
    assert not panel.follow("widget:noSuchWidget")
    assert panel.note.isVisibleTo(panel) and "noSuchWidget" in panel.note.text()
    assert not panel.follow("set:yModeSelector=no-such-mode")
    assert not panel.follow("try:no-such-thing")
    assert panel.follow("widget:lossPlot") and not panel.note.isVisibleTo(panel)
