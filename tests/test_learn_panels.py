"""Learn mode: every tab's panel shows its own text, folds and remembers it, renders formulas,
and every link in every text points at something that exists."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QAction, QTextCharFormat
from PySide6.QtWidgets import QWidget

from gptstudio.paths import resources_dir
from gptstudio.ui.tabs import TABS
from gptstudio.ui.widgets.learn_panel import LearnPanel
from tests.ui_fixtures import *  # noqa: F401, F403
from tests.ui_fixtures import QT_WARNINGS_FAIL, show_tab

pytestmark = QT_WARNINGS_FAIL
KEYS = ("setup", "tokenizer", "train", "attention", "generate")


def panel_of(w, key: str) -> LearnPanel:
    panel = w.tab(key).findChild(LearnPanel, "learnPanel")
    assert panel is not None, f"the {key} tab has no learn panel"
    return panel


def heading(key: str) -> str:
    """The first "## " heading of resources/learn/<key>.md."""
    text = (resources_dir() / "learn" / f"{key}.md").read_text(encoding="utf-8")
    return next(line[3:].strip() for line in text.splitlines() if line.startswith("## "))


@pytest.mark.parametrize("key", KEYS)
def test_each_tabs_panel_shows_its_own_text(window, key):
    show_tab(window, key)
    panel = panel_of(window, key)
    text = panel.browser.toPlainText()
    assert heading(key) in text
    assert "*" not in text.split("\n")[0] and "##" not in text  # rendered, not raw Markdown
    assert panel.isVisible() and panel.expanded


def test_the_fine_tune_tab_has_a_panel_when_it_is_there(window):
    if "finetune" not in {info.key for info in TABS}:
        pytest.skip("no Fine-tune tab in this build")
    assert heading("finetune") in panel_of(window, "finetune").browser.toPlainText()


def test_folding_is_remembered_per_tab(make_window):
    first = make_window()
    show_tab(first, "train")
    panel_of(first, "train").toggle.click()
    assert not panel_of(first, "train").expanded and panel_of(first, "train").browser.isHidden()
    first.close()
    second = make_window()
    assert not panel_of(second, "train").expanded  # remembered
    assert panel_of(second, "setup").expanded  # another tab's is its own
    panel_of(second, "train").toggle.click()
    assert panel_of(second, "train").expanded and panel_of(second, "train").browser.isVisibleTo(
        panel_of(second, "train"))


def _superscripts(panel: LearnPanel) -> list[str]:
    out, block = [], panel.browser.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if fragment.charFormat().verticalAlignment() == \
                    QTextCharFormat.VerticalAlignment.AlignSuperScript:
                out.append(fragment.text())
            it += 1
        block = block.next()
    return out


def test_formulas_are_rendered_not_shown_as_markup(window):
    train = panel_of(window, "train")
    text = train.browser.toPlainText()
    assert "<sup>" not in text and "<sub>" not in text
    assert "−(1/N) Σ" in text and "ln p(x" in text  # cross-entropy
    assert "perplexity = e" in text and "bits per byte = loss × tokens ÷ (bytes × ln 2)" in text
    assert "loss" in _superscripts(train)  # e to the power "loss", raised
    attention = panel_of(window, "attention")
    assert "softmax(Q K" in attention.browser.toPlainText()
    assert "T" in _superscripts(attention)  # K transposed
    assert "−∞ where j > i" in attention.browser.toPlainText()  # the causal mask


@pytest.mark.parametrize("key", KEYS)
def test_every_link_points_at_something_in_the_window(window, key):
    panel = panel_of(window, key)
    links = panel.links()
    assert links, f"the {key} panel has no links"
    for href in links:
        url = QUrl(href)
        scheme, target = url.scheme(), url.path()
        if scheme in ("widget", "set"):
            name = target.partition("=")[0]
            assert window.findChild(QWidget, name) is not None, href
        elif scheme == "try":
            assert window.findChild(QAction, f"learn:{target}") is not None, href
        else:
            assert scheme in ("http", "https"), href


def test_each_panel_says_which_chapter_and_what_to_try(window):
    for key in KEYS:
        text = panel_of(window, key).browser.toPlainText()
        assert "chapter" in text.lower(), key
        assert "Try this" in text, key


def test_the_setup_panel_stays_readable_while_its_boxes_are_locked(window, qtbot):
    from tests.ui_fixtures import setup_tab, small_setup, start_training, stop_training, \
        wait_for_idle, wait_step

    small_setup(window, steps=200)
    with wait_step(qtbot, window):
        assert start_training(window)
    setup = setup_tab(window)
    assert not setup.model_box.isEnabled() and not setup.training_box.isEnabled()
    assert panel_of(window, "setup").isEnabled() and panel_of(window, "setup").browser.isEnabled()
    stop_training(window)
    wait_for_idle(qtbot, window)
    assert setup.training_box.isEnabled()
