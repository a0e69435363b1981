"""The Attention tab, used as a person would: type a prompt, click a head, scrub the recorded
steps, compare, export; the bad inputs say what is wrong beside the field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from gptstudio.core.attention import AttentionRecorder, inspect_prompt, list_records, load_record
from gptstudio.core.corpora import load_builtin
from gptstudio.core.model import LSTMConfig, from_preset
from gptstudio.core.pipeline import load_trained_model, prepare_new_training
from gptstudio.core.tokenizers import CharTokenizer
from gptstudio.core.train import Run, TrainConfig
from tests.ui_fixtures import *  # noqa: F403 - fixtures
from tests.ui_fixtures import (
    QT_WARNINGS_FAIL, attention_shown, attention_tab, attention_widget, export_attention_png,
    new_run, open_run, run_dir, show_tab, small_setup, start_training, wait_attention,
    wait_for_idle,
)

pytestmark = QT_WARNINGS_FAIL
PROBE = "abcd|abcd"


def trained_run(path: Path, *, steps: int = 6, record_every: int | None = 2,
                lstm: bool = False) -> Path:
    """A copy-task run of a 2-layer, 3-head GPT (or an LSTM) trained headless, recording."""
    corpus = load_builtin("copy", size=5_000)
    tok = CharTokenizer.from_text(corpus.text)
    torch.manual_seed(0)
    model = LSTMConfig(vocab_size=tok.vocab_size, n_embd=16, n_hidden=16, n_layer=1,
                       block_size=16) if lstm else \
        from_preset("nano", vocab_size=tok.vocab_size, n_layer=2, n_head=3, n_embd=24,
                    block_size=32)
    config = TrainConfig(max_steps=steps, batch_size=2, eval_interval=0, eval_iters=1,
                         sample_interval=0, checkpoint_interval=3, warmup_steps=1,
                         precision="fp32", compile="off")
    hooks = (AttentionRecorder(path, PROBE, record_every),) if record_every else ()
    prepared = prepare_new_training(path, corpus, tok, model, config, corpus_spec="builtin:copy",
                                    hooks=hooks)
    for _ in prepared.trainer.events():
        pass
    return path


def type_prompt(qtbot, w, text: str) -> None:
    prompt = attention_widget(w, "attentionPrompt")
    prompt.clear()
    qtbot.keyClicks(prompt, text)
    qtbot.keyClick(prompt, Qt.Key.Key_Return)


def test_typed_prompt_fills_the_grid_and_a_clicked_head_opens_exactly_its_matrix(window, qtbot,
                                                                                  tmp_path):
    path = trained_run(tmp_path / "run", record_every=None)
    assert open_run(window, path)
    show_tab(window, "attention")
    type_prompt(qtbot, window, "xyz|xyz")
    grid = attention_widget(window, "attentionGrid")
    wait_attention(qtbot, window, lambda s: s.view.maps.tokens == tuple("xyz|xyz"))
    assert grid.shape == (2, 3) and grid.item_count() == 6
    _, model, tok = load_trained_model(path)  # the oracle: the engine on the same checkpoint
    expected = inspect_prompt(model, tok, "xyz|xyz").maps.weights
    qtbot.mouseClick(grid, Qt.MouseButton.LeftButton, pos=grid.cell_rect(1, 2).center())
    heatmap = attention_widget(window, "attentionHeatmap")
    np.testing.assert_allclose(heatmap.matrix(), expected[1][2], atol=1e-6)
    assert attention_widget(window, "layerSelector").currentIndex() == 1
    assert attention_widget(window, "headSelector").currentIndex() == 2
    # The keyboard chooses heads too.
    attention_widget(window, "headSelector").setCurrentIndex(0)
    np.testing.assert_allclose(heatmap.matrix(), expected[1][0], atol=1e-6)
    assert "weight" in heatmap.describe(3, 1) and "masked" in heatmap.describe(1, 3)
    # Clicking a token shows where it looks and what the model expects after it.
    tokens = attention_widget(window, "tokenView")
    tokens.position_clicked.emit(2)
    bars = attention_widget(window, "nextTokenBars")
    assert "position 2" in bars.title and bars.rows[0][1] == pytest.approx(
        float(inspect_prompt(model, tok, "xyz|xyz").next_tokens.probs[2, 0]), abs=1e-6)
    assert "position 2" in tokens.summary()


def test_the_slider_changes_the_shown_step_and_a_pinned_step_stays(window, qtbot, tmp_path):
    path = trained_run(tmp_path / "run")
    assert open_run(window, path)
    show_tab(window, "attention")
    records = list_records(Run.open(path).attention_dir)
    assert [r.step for r in records] == [1, 2, 4, 6]
    slider = attention_widget(window, "attentionStepSlider")
    # An opened run replays its recording: the latest step first.
    wait_attention(qtbot, window, lambda s: "step 6" in s.caption)
    assert attention_widget(window, "attentionSource").currentText().startswith("Recorded")
    # The run's corpus is the copy task: its ideal pattern is laid over the probe at once.
    assert attention_widget(window, "idealTaskSelector").currentData() == "copy"
    assert attention_shown(window).ideal is not None
    heatmap = attention_widget(window, "attentionHeatmap")
    np.testing.assert_array_equal(heatmap.matrix(),
                                  load_record(records[-1].path).view.maps.weights[0][0])
    attention_widget(window, "pinButton").click()
    pinned = attention_widget(window, "pinnedHeatmap")
    assert pinned.isVisible()
    slider.setValue(0)
    wait_attention(qtbot, window, lambda s: "step 1" in s.caption)
    first = load_record(records[0].path).view.maps.weights[0][0]
    np.testing.assert_array_equal(heatmap.matrix(), first)
    np.testing.assert_array_equal(pinned.matrix(),
                                  load_record(records[-1].path).view.maps.weights[0][0])
    assert "step 1 (1 of 4)" in attention_widget(window, "attentionStepLabel").text()
    # Typing a prompt goes back to a model; the slider brings the recording back.
    type_prompt(qtbot, window, "ab|ab")
    wait_attention(qtbot, window, lambda s: s.view.maps.tokens == tuple("ab|ab"))
    slider.setValue(2)
    wait_attention(qtbot, window, lambda s: "step 4" in s.caption)


def test_the_ideal_pattern_of_the_task_is_overlaid_and_scored(window, qtbot, tmp_path):
    assert open_run(window, trained_run(tmp_path / "run", record_every=None))
    show_tab(window, "attention")
    attention_widget(window, "idealTaskSelector").setCurrentIndex(1)  # copy
    type_prompt(qtbot, window, "abc|abc")
    wait_attention(qtbot, window, lambda s: s.ideal is not None)
    shown = attention_shown(window)
    assert set(zip(*np.nonzero(shown.ideal))) == {(3, 0), (4, 1), (5, 2)}
    assert len(attention_widget(window, "attentionHeatmap").ideal_item.data) == 3
    assert all(s.ideal is not None for s in shown.stats)
    attention_widget(window, "attentionDetails").setCurrentIndex(1)  # "What each head does"
    table = attention_widget(window, "headStatsTable")
    assert table.rowCount() == 6 and not table.isColumnHidden(7)
    best = max(shown.stats, key=lambda s: s.ideal)
    table.selectRow([table.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in
                     range(table.rowCount())].index((best.layer, best.head)))
    np.testing.assert_array_equal(attention_widget(window, "attentionHeatmap").matrix(),
                                  shown.view.maps.weights[best.layer][best.head])


def test_recording_during_an_app_run_fills_the_slider_live(window, qtbot):
    small_setup(window, steps=30, eval_interval=30)
    attention_widget(window, "recordEvery").setText("5")
    attention_widget(window, "recordEvery").editingFinished.emit()
    assert attention_tab(window).recording.every == 5
    assert start_training(window)
    show_tab(window, "attention")
    wait_for_idle(qtbot, window)
    steps = [r.step for r in list_records(Run.open(run_dir(window)).attention_dir)]
    assert steps == [1, 5, 10, 15, 20, 25, 30]
    assert attention_tab(window).timeline.steps == steps
    assert attention_widget(window, "attentionStepSlider").maximum() == len(steps) - 1


def test_bad_input_is_explained_beside_the_field(window, qtbot, tmp_path):
    show_tab(window, "attention")
    error = attention_widget(window, "attentionPromptError")
    type_prompt(qtbot, window, "abc")  # no run yet
    assert "no model yet" in error.text() and error.isVisible()
    assert open_run(window, trained_run(tmp_path / "run", record_every=None))
    type_prompt(qtbot, window, "ABC")
    qtbot.waitUntil(lambda: "'A'" in error.text(), timeout=30_000)
    attention_widget(window, "attentionPrompt").clear()
    attention_tab(window).ask("")
    assert "Type a prompt" in error.text()
    long = "abcdefghijklmnopq|abcdefghijklmnopq"  # 35 characters, the context is 32
    type_prompt(qtbot, window, long)
    wait_attention(qtbot, window, lambda s: s.view.cropped > 0)
    assert "showing its last 32" in attention_widget(window, "attentionNote").text()
    # A bad probe for the next run is refused beside its field.
    probe = attention_widget(window, "probePrompt")
    probe.setText("QQQ")
    probe.textEdited.emit("QQQ")
    assert "'Q'" in attention_widget(window, "recordError").text()
    assert attention_tab(window).recording.prompt == ""


def test_an_lstm_run_says_plainly_there_is_no_attention(window, qtbot, tmp_path):
    assert open_run(window, trained_run(tmp_path / "lstm", record_every=None, lstm=True))
    show_tab(window, "attention")
    type_prompt(qtbot, window, "abc")
    assert "LSTM" in attention_widget(window, "attentionPromptError").text()


def test_a_damaged_snapshot_is_reported_and_the_tab_goes_on(window, qtbot, tmp_path):
    path = trained_run(tmp_path / "run")
    first = list_records(Run.open(path).attention_dir)[0].path
    first.write_bytes(b"broken")
    assert open_run(window, path)
    show_tab(window, "attention")
    wait_attention(qtbot, window, lambda s: "step 6" in s.caption)
    attention_widget(window, "attentionStepSlider").setValue(0)
    error = attention_widget(window, "attentionStepError")
    qtbot.waitUntil(lambda: "damaged" in error.text(), timeout=5_000)
    assert first.name in error.text() and "step 6" in attention_shown(window).caption


def test_heatmap_and_grid_export_as_png(window, qtbot, tmp_path):
    assert open_run(window, trained_run(tmp_path / "run"))
    show_tab(window, "attention")
    wait_attention(qtbot, window, lambda s: "step 6" in s.caption)
    for what in ("heatmap", "grid"):
        out = tmp_path / f"{what}.png"
        assert export_attention_png(window, what, out)
        image = QImage(str(out))
        assert not image.isNull() and image.width() > 100 and image.height() > 100
    assert not export_attention_png(window, "grid", tmp_path / "missing" / "x.png")
    assert window.last_error is not None and "Cannot export" in window.last_error[0]
    # File > New run: what was shown belonged to that run, so it goes.
    assert new_run(window) and attention_shown(window) is None
    assert attention_widget(window, "attentionGrid").item_count() == 0
    assert attention_widget(window, "attentionHeatmap").matrix().size == 0


def test_the_grid_answers_the_arrow_keys(window, qtbot, tmp_path):
    assert open_run(window, trained_run(tmp_path / "run"))
    show_tab(window, "attention")
    wait_attention(qtbot, window, lambda s: "step 6" in s.caption)
    grid = attention_widget(window, "attentionGrid")
    grid.setFocus()
    for key in (Qt.Key.Key_Down, Qt.Key.Key_Right, Qt.Key.Key_Right, Qt.Key.Key_Right):
        qtbot.keyClick(grid, key)
    assert attention_widget(window, "layerSelector").currentIndex() == 1
    assert attention_widget(window, "headSelector").currentIndex() == 2  # three heads: stops
    np.testing.assert_array_equal(attention_widget(window, "attentionHeatmap").matrix(),
                                  attention_shown(window).view.maps.weights[1][2])
