"""The main window: built with defaults, stable object names, menus, settings, drag and drop."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QComboBox, QListWidget, QPushButton, QTabWidget

from tests.ui_fixtures import *  # noqa: F403 - fixtures
from tests.ui_fixtures import (QT_WARNINGS_FAIL, corpus_box, data, loss_plot, metric_plots,
                               model_box, open_corpus, setup_tab, status_label, training_box)

pytestmark = QT_WARNINGS_FAIL

OBJECT_NAMES = {
    "mainTabs": QTabWidget, "corpusSelector": QComboBox, "tokenizerSelector": QComboBox,
    "presetSelector": QComboBox, "startButton": QPushButton, "pauseButton": QPushButton,
    "stopButton": QPushButton, "samplesView": QListWidget,
}


def test_main_window_builds_with_defaults_in_a_running_app(qapp):
    from gptstudio.ui import MainWindow

    w = MainWindow()
    try:
        tabs = w.findChild(QTabWidget, "mainTabs")
        from gptstudio.ui.tabs import TABS

        assert [tabs.tabText(i) for i in range(tabs.count())] == [t.title for t in TABS]
        assert [t.title for t in TABS][:1] == ["Setup"] and "Train" in [t.title for t in TABS]
        # The bundled fables are preselected and loaded, with a character tokenizer.
        assert data(w).corpus is not None and data(w).corpus.name == "fables"
        assert data(w).tokenizer is not None and data(w).tokenizer.kind == "char"
        assert w.findChild(QComboBox, "corpusSelector").currentData() == "builtin:fables"
        # The defaults are valid: Start is allowed straight away.
        assert setup_tab(w).problems() == []
        assert w.findChild(QPushButton, "startButton").isEnabled()
    finally:
        w.close()


@pytest.mark.parametrize("name", sorted(OBJECT_NAMES))
def test_key_widgets_have_stable_object_names(window, name):
    assert window.findChild(OBJECT_NAMES[name], name) is not None


def test_loss_plot_has_its_object_name(window):
    from gptstudio.ui.widgets.plots import LossPlot

    assert isinstance(window.findChild(LossPlot, "lossPlot"), LossPlot)


def test_menus_hold_the_expected_actions(window):
    titles = {a.text().replace("&", ""): a.menu() for a in window.menuBar().actions()}
    assert {"File", "View", "Help"} <= set(titles)
    file_items = [a.text().replace("&", "") for a in titles["File"].actions() if a.text()]
    for expected in ("New run", "Open corpus…", "Open run…", "Save checkpoint",
                     "Export metrics CSV…", "Export plot PNG…", "Recent runs", "Quit"):
        assert expected in file_items
    help_items = [a.text().replace("&", "") for a in titles["Help"].actions()]
    assert "Keyboard shortcuts" in help_items and "About GPT Studio" in help_items


def test_status_bar_shows_device_and_parameters(window):
    device = status_label(window, "device")
    assert "CPU" in device or "GPU" in device
    assert "parameters" in status_label(window, "params")
    assert status_label(window, "state") == "Idle"


def test_geometry_and_setup_persist_between_windows(make_window):
    first = make_window()
    first.resize(780, 560)
    model_box(first).set_preset("nano")
    training_box(first).set_field("max_steps", "1234")
    first.close()
    second = make_window()
    assert model_box(second).preset_name() == "nano"
    assert training_box(second).texts()["max_steps"] == "1234"
    assert (second.size().width(), second.size().height()) == (780, 560)


def test_settings_are_isolated_in_tests(ui_env):
    from gptstudio.ui.settings import AppSettings

    settings = AppSettings()
    settings.add_recent_run("/tmp/somewhere")
    assert settings.recent_runs() == ["/tmp/somewhere"]  # a one-item list stays a list
    assert str(ui_env.parent) in settings._qs.fileName()


def _drop(window, path: Path) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime,
                       Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)


def test_dropping_a_text_file_opens_it_as_the_corpus(window, qtbot, tmp_path):
    text = tmp_path / "poem.txt"
    text.write_text("roses are red\nviolets are blue\n" * 50, encoding="utf-8")
    with qtbot.waitSignal(data(window).corpus_changed, timeout=10_000):
        _drop(window, text)
    assert data(window).corpus.paths == (text,)
    assert corpus_box(window).current_spec() == str(text)
    assert "roses are red" in corpus_box(window).preview.toPlainText()
    # The character tokenizer follows the new corpus.
    assert data(window).tokenizer.vocab_size < 30


def test_a_binary_corpus_shows_the_error_and_the_app_keeps_working(window, qtbot, tmp_path):
    binary = tmp_path / "image.txt"
    binary.write_bytes(b"GIF89a\x00\x01\x02" * 100)
    with qtbot.waitSignal(data(window).corpus_failed, timeout=10_000):
        open_corpus(window, binary)
    assert window.last_error is not None
    assert "binary" in window.last_error[1] and "image.txt" in window.last_error[1]
    assert "binary" in corpus_box(window).error.text()
    # The previous corpus is still there and Start is still possible.
    assert data(window).corpus.name == "fables"
    assert setup_tab(window).problems() == []


def test_plots_follow_a_switch_to_the_dark_palette(window, qapp):
    from gptstudio.ui.theme import dark_palette
    from gptstudio.ui.theme import DARK, LIGHT

    before = qapp.palette()
    plot = loss_plot(window)
    assert plot.theme == LIGHT  # the offscreen test palette is light
    try:
        qapp.setPalette(dark_palette())
        window.apply_theme()  # what the system's colorSchemeChanged signal triggers
        assert plot.theme == DARK
        assert plot.backgroundBrush().color().name() == DARK.background
        assert all(p.theme == DARK for p in metric_plots(window))
    finally:
        qapp.setPalette(before)
        window.apply_theme()


def test_the_object_names_of_fields_are_unique(window):
    from collections import Counter

    from PySide6.QtWidgets import QWidget

    names = Counter(w.objectName() for w in window.findChildren(QWidget)
                    if w.objectName()[:1].islower()  # ours; Qt names its own parts in Caps
                    and w.objectName().endswith(("Field", "Selector", "Button", "Spin")))
    assert [name for name, n in names.items() if n > 1] == []
