"""The Fine-tune tab's learn panel: its links use the generic vocabulary (widget:, set:, try:)
and do what they say; "turn LoRA on" then "try rank 4" give core's count for that spec."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from gptstudio.core.finetune import FinetunedGPT, LoRAConfig, count_parameters, set_trainable
from gptstudio.core.model import build_model
from gptstudio.core.train import Run
from gptstudio.ui.widgets.highlight import highlights
from gptstudio.ui.widgets.learn_panel import LearnPanel
from tests.finetune_runs import base_run, separable_tsv
from tests.ui_fixtures import *  # noqa: F401, F403
from tests.ui_fixtures import QT_WARNINGS_FAIL
from tests.ui_fixtures_finetune import *  # noqa: F401, F403

pytestmark = QT_WARNINGS_FAIL


@pytest.fixture
def base(ui_env):
    return base_run(ui_env / "base")


def panel(w) -> LearnPanel:
    return w.tab("finetune").findChild(LearnPanel, "learnPanel")


def click_link(w, href: str) -> None:
    assert href in panel(w).links(), href
    panel(w).browser.anchorClicked.emit(QUrl(href))


def test_every_link_of_the_panel_points_at_something_here(make_window, base):
    w = make_window()
    finetune_tab(w)
    links = panel(w).links()
    assert {"widget:maskPreview", "set:loraCheck=on", "set:loraRankSpin=4"} <= set(links)
    for href in links:
        url = QUrl(href)
        scheme, target = url.scheme(), url.path()
        if scheme in ("widget", "set"):
            assert w.tab("finetune").findChild(QWidget, target.partition("=")[0]), href
        elif scheme == "try":
            assert w.findChild(QAction, f"learn:{target}") is not None, href
        else:
            assert scheme in ("http", "https"), href


def test_the_lora_links_set_the_rank_and_the_count_follows(qtbot, make_window, base, tmp_path):
    w = make_window()
    finetune_tab(w)
    tsv = separable_tsv(tmp_path / "words.tsv", n=40)
    with wait_preview(qtbot, w):
        choose_finetune_data(w, tsv)
    click_link(w, "widget:maskPreview")
    assert [h.target.objectName() for h in highlights(w)] == ["maskPreview"]
    assert not panel(w).follow("set:loraRankSpin=4")  # LoRA is off: the rank cannot be set
    assert "loraRankSpin" in panel(w).note.text()
    with wait_preview(qtbot, w):
        click_link(w, "set:loraCheck=on")
        click_link(w, "set:loraRankSpin=4")
    assert finetune_widget(w, "loraCheck").isChecked()
    assert finetune_widget(w, "loraRankSpin").value() == 4
    assert w.tab("finetune").options.spec().lora == LoRAConfig(rank=4)
    run = Run.open(base)  # the oracle: a real model frozen for that spec, counted
    model = FinetunedGPT(build_model(run.model_config()), n_classes=2)
    set_trainable(model, train_last=1, lora=LoRAConfig(rank=4))
    assert trainable_count(w) == count_parameters(model)[0]
