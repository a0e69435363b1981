"""The Fine-tune tab's parts and requests for the app's tests (tests reach the tab only through
these helpers or by objectName). Import next to `tests.ui_fixtures`."""

from __future__ import annotations

__all__ = ["finetune_tab", "finetune_widget", "finetune_options", "wait_preview",
           "choose_finetune_data", "choose_task", "trainable_count", "mask_shading",
           "mask_example", "wait_prediction", "shown_confusion"]


def finetune_tab(w):
    w.show_tab("finetune")
    return w.tab("finetune")


def finetune_widget(w, name: str):
    """A part of the Fine-tune tab by objectName (baseRunSelector, taskSelector, loraRankSpin,
    finetuneStartButton, tryItInput, confusionTable, openChatButton, learnPanel, ...)."""
    from PySide6.QtWidgets import QWidget

    found = w.tab("finetune").findChild(QWidget, name)
    assert found is not None, name
    return found


def finetune_options(w):
    return w.tab("finetune").options


def wait_preview(qtbot, w, *, ok: bool = True, timeout: int = 30_000):
    """A blocker for the next preview (ok) or preview error (not ok) of the lab."""
    lab = w.tab("finetune").lab
    return qtbot.waitSignal(lab.preview_ready if ok else lab.preview_failed, timeout=timeout)


def choose_finetune_data(w, path) -> None:
    """What choosing a file with finetuneDataButton does."""
    finetune_options(w).set_data(str(path))


def choose_task(w, task: str) -> None:
    combo = finetune_widget(w, "taskSelector")
    combo.setCurrentIndex(combo.findData(task))


def trainable_count(w) -> int:
    """The trainable-parameter count trainableLabel shows."""
    import re

    text = finetune_widget(w, "trainableLabel").text()
    match = re.search(r"<b>([\d,]+)</b>", text)
    assert match, text
    return int(match.group(1).replace(",", ""))


def mask_shading(w, index: int = 0) -> list:
    """How maskPreview paints each token of its example `index`: "trained", "masked" or None
    (padding)."""
    return w.tab("finetune").mask.token_shading(index)


def mask_example(w):
    return w.tab("finetune").mask.example


def wait_prediction(qtbot, w, timeout: int = 30_000):
    return qtbot.waitSignal(w.tab("finetune").lab.prediction_ready, timeout=timeout)


def shown_confusion(w) -> list:
    return w.tab("finetune").confusion.counts()
