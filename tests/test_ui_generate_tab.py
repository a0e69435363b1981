"""The Generate tab: streaming with a seed (compared with the engine and `gptstudio sample`),
Ctrl+Enter, Stop, branches, the live next-token chart, bad input, model switches, Compare.

Runs are trained headless once per module (a tiny character model on the fables); the tab reads
them like any opened run. Chat and the scoring page are in test_ui_generate_pages.py.
"""

from __future__ import annotations

import json

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QDoubleSpinBox, QFrame, QLabel, QPushButton, QTextBrowser

from gptstudio.cli import main
from gptstudio.core.generation import branch, run_generation
from gptstudio.core.next_token import next_token_distribution, token_label
from gptstudio.core.pipeline import load_trained_model
from gptstudio.core.sampling import SamplingConfig
from gptstudio.core.train import load_checkpoint
from gptstudio.ui.tabs.generate.next_token_chart import NextTokenChart
from gptstudio.ui.tabs.generate.shaded_text import ShadedText
from tests.ui_fixtures import *  # noqa: F403 - fixtures
from tests.ui_fixtures import (
    QT_WARNINGS_FAIL, branch_generation, branch_menu, generate_page, generate_tab,
    generation_events, inference, open_run, show_tab, small_setup, stop_training, train_tab,
    training, wait_for_idle, wait_generate_idle, wait_step,
)
from tests.ui_gen_runs import fables_run  # noqa: F401 - fixture

pytestmark = QT_WARNINGS_FAIL


def widget(w, kind, name):
    found = w.findChild(kind, name)
    assert found is not None, name
    return found


def set_sampling(w, *, temperature=0.9, top_k=0, top_p=1.0, max_tokens=30, seed=7) -> None:
    widget(w, QDoubleSpinBox, "temperatureSpin").setValue(temperature)
    tab = generate_tab(w)
    tab.controls.top_k.setValue(top_k)
    tab.controls.top_p.setValue(top_p)
    tab.controls.max_tokens.setValue(max_tokens)
    tab.controls.seed.setValue(seed)


def generate(qtbot, w, prompt: str) -> None:
    page = generate_page(w)
    wait_generate_idle(qtbot, w)  # the chart's request for the prompt, if any
    page.prompt.setPlainText(prompt)
    qtbot.mouseClick(widget(w, QPushButton, "generateButton"), Qt.MouseButton.LeftButton)
    wait_generate_idle(qtbot, w)


def test_seeded_generation_is_the_engines_and_the_clis(window, qtbot, fables_run, capsys):
    run = fables_run
    assert open_run(window, run)
    set_sampling(window, temperature=0.9, top_k=12, max_tokens=40, seed=7)
    generate(qtbot, window, "The fox ")
    shown = widget(window, ShadedText, "generatedText").tokens_text()
    _, model, tok = load_trained_model(run)
    config = SamplingConfig(max_new_tokens=40, temperature=0.9, top_k=12, seed=7)
    expected = run_generation(model, tok, "The fox ", config).text
    assert shown == expected and len(expected) > 0
    assert main(["sample", "--run", str(run), "--prompt", "The fox ", "--max-new-tokens", "40",
                 "--temperature", "0.9", "--top-k", "12", "--seed", "7"]) == 0
    assert capsys.readouterr().out == expected + "\n"
    status = widget(window, QLabel, "generateStatus").text()
    assert "tokens/s" in status and "ended:" in status
    # Each token is shaded by its probability and its tooltip lists the alternatives.
    pieces = widget(window, ShadedText, "generatedText").pieces
    events = generation_events(window)
    assert [p.shade for p in pieces] == pytest.approx([1 - e.prob for e in events])
    view = widget(window, ShadedText, "generatedText")
    tip = view.tooltip_for(0)
    assert "Top candidates" in tip and events[0].alternatives[0][1] in tip
    # Hovering reads the same tooltip from the token under the pointer.
    rect = view.cursorRect(view.document().find(events[0].piece[:1] or " ",
                                                len("The fox ")))
    assert view.tooltip_at(rect.center()) == tip


def test_ctrl_enter_generates_in_this_tab_and_still_starts_training_elsewhere(window, qtbot,
                                                                            fables_run):
    assert open_run(window, fables_run)
    set_sampling(window, max_tokens=10)
    page = generate_page(window)
    wait_generate_idle(qtbot, window)
    page.prompt.setPlainText("The ")
    page.prompt.setFocus()
    with qtbot.waitSignal(inference(window).streams.finished, timeout=30_000):
        qtbot.keyClick(page.prompt, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert page.prompt.toPlainText() == "The "  # no newline typed
    wait_generate_idle(qtbot, window)
    assert len(generation_events(window)) == 10
    # Outside the tab, the same keys are the Train tab's Start.
    window.session.new_run()
    small_setup(window, steps=400, eval_interval=400)
    show_tab(window, "train")
    train_tab(window).setFocus()
    with wait_step(qtbot, window):
        qtbot.keyClick(train_tab(window), Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    stop_training(window)
    wait_for_idle(qtbot, window)


def test_stop_ends_the_stream_at_once_and_nothing_arrives_after(window, qtbot, fables_run):
    assert open_run(window, fables_run)
    set_sampling(window, max_tokens=20_000)
    page = generate_page(window)
    wait_generate_idle(qtbot, window)
    page.prompt.setPlainText("Once")
    streams = inference(window).streams
    qtbot.mouseClick(page.generate, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(generation_events(window)) > 3, timeout=30_000)
    with qtbot.waitSignal(streams.stopped, timeout=30_000):
        qtbot.mouseClick(widget(window, QPushButton, "stopGenerateButton"),
                         Qt.MouseButton.LeftButton)
        assert generate_tab(window).active is None  # stopped at once, for the tab
        shown = page.text.tokens_text()
        n_shown = len(generation_events(window))
    generate_tab(window).redraw()
    assert page.text.tokens_text() == shown and len(generation_events(window)) == n_shown
    assert n_shown < 20_000 and page.generate.isEnabled() and not page.stop.isEnabled()
    assert widget(window, QLabel, "generateStatus").text().startswith("Stopped.")


def test_a_branch_keeps_the_prefix_and_continues_as_the_engine_would(window, qtbot,
                                                                    fables_run):
    run = fables_run
    assert open_run(window, run)
    set_sampling(window, max_tokens=25, seed=3)
    generate(qtbot, window, "The mouse ")
    first = generation_events(window)
    index = 6
    menu = branch_menu(window, index)
    offered = [a.data() for a in menu.actions() if a.data() is not None]
    assert first[index].id not in offered
    assert offered == [i for i, _, _ in first[index].alternatives if i != first[index].id]
    alternative = offered[0]
    assert branch_generation(window, index, alternative)
    wait_generate_idle(qtbot, window)
    after = generation_events(window)
    assert after[:index] == first[:index] and after[index].id == alternative
    prefix = "".join(e.piece for e in first[:index])
    shown = generate_page(window).text.tokens_text()
    assert shown.startswith(prefix) and shown != "".join(e.piece for e in first)
    _, model, tok = load_trained_model(run)
    config = SamplingConfig(max_new_tokens=25, temperature=0.9, seed=3)
    start = branch(tok, tok.encode("The mouse "), first, index, alternative)
    expected = run_generation(model, tok, list(start.ids), config, first_events=start.events)
    assert shown == expected.text


def test_moving_temperature_top_k_top_p_redraws_the_bars_without_generating(window, qtbot,
                                                                           fables_run):
    run = fables_run
    assert open_run(window, run)
    set_sampling(window, temperature=1.0)
    _, model, tok = load_trained_model(run)
    page = generate_page(window)
    page.prompt.setPlainText("The fox looked")  # the chart asks once typing settles
    tab = generate_tab(window)
    ids = tuple(tok.encode("The fox looked"))
    qtbot.waitUntil(lambda: tab.generate.logits is not None and tab.active is None
                    and tab.generate.logits.prompt.ids == ids, timeout=30_000)
    chart = widget(window, NextTokenChart, "nextTokenChart")
    with torch.no_grad():
        logits = model(torch.tensor([tok.encode("The fox looked")])).logits[0, -1]

    def expected(**kw):
        d = next_token_distribution(logits.numpy(), token_label(tok), SamplingConfig(**kw))
        return [(c.piece, c.scaled_prob, c.prob, c.cut) for c in d.candidates]

    def same(bars, reference):
        assert [b[0] for b in bars] == [r[0] for r in reference]
        assert [b[3] for b in bars] == [r[3] for r in reference]
        assert [b[1] for b in bars] == pytest.approx([r[1] for r in reference], rel=1e-4)

    same(chart.bars(), expected(temperature=1.0))
    streams = inference(window).streams
    with qtbot.assertNotEmitted(streams.finished, wait=0), \
            qtbot.assertNotEmitted(streams.progressed, wait=0):
        widget(window, QDoubleSpinBox, "temperatureSpin").setValue(2.0)
        assert tab.active is None  # nothing was started
        same(chart.bars(), expected(temperature=2.0))
        tab.controls.top_k.setValue(3)
        same(chart.bars(), expected(temperature=2.0, top_k=3))
        assert sum(not cut for *_, cut in chart.bars()) == 3
        tab.controls.top_k.setValue(0)
        tab.controls.top_p.setValue(0.5)
        same(chart.bars(), expected(temperature=2.0, top_p=0.5))
        widget(window, QDoubleSpinBox, "temperatureSpin").setValue(0.0)
        assert [cut for *_, cut in chart.bars()] == [False] + [True] * 19  # greedy
    assert "can be drawn" in widget(window, QLabel, "chartNote").text()


def test_out_of_range_settings_are_refused_beside_the_field(window, qtbot, fables_run):
    assert open_run(window, fables_run)
    page = generate_page(window)
    wait_generate_idle(qtbot, window)
    tab = generate_tab(window)
    tab.controls.temperature.setValue(-0.5)
    error = widget(window, QLabel, "temperatureError")
    assert error.isVisible() and "temperature must be 0" in error.text()
    tab.controls.top_p.setValue(1.5)
    top_p_error = widget(window, QLabel, "top_pError")
    assert top_p_error.isVisible() and "top_p must be in (0, 1]" in top_p_error.text()
    with qtbot.assertNotEmitted(inference(window).streams.progressed, wait=0):
        qtbot.mouseClick(page.generate, Qt.MouseButton.LeftButton)
    assert tab.active is None and "Fix the settings" in page.status.text()
    tab.controls.temperature.setValue(1.0)
    tab.controls.top_p.setValue(0.9)
    assert not error.isVisible() and not top_p_error.isVisible()
    assert tab.controls.config() == SamplingConfig(temperature=1.0, top_p=0.9, seed=42)


def test_unknown_characters_and_long_prompts_are_explained(window, qtbot, fables_run):
    assert open_run(window, fables_run)
    page = generate_page(window)
    wait_generate_idle(qtbot, window)
    set_sampling(window, max_tokens=5)
    generate(qtbot, window, "The € sign")
    assert "not in the vocabulary" in page.status.text()
    assert page.text.tokens_text() == "" and window.isVisible()
    generate(qtbot, window, "")  # an empty prompt starts a fresh text (end-of-text)
    assert len(generation_events(window)) == 5 and generation_events(window)[0].piece
    generate(qtbot, window, "the fox " * 20)  # 160 characters, block_size 32
    note = widget(window, QLabel, "promptNote")
    assert note.isVisible() and "the first 128 were left out" in note.text()
    assert len(generation_events(window)) == 5


def test_switching_the_model_while_generating_stops_without_mixing(window, qtbot, fables_run):
    assert open_run(window, fables_run)
    set_sampling(window, max_tokens=20_000)
    page = generate_page(window)
    wait_generate_idle(qtbot, window)
    page.prompt.setPlainText("A ")
    qtbot.mouseClick(page.generate, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(generation_events(window)) > 2, timeout=30_000)
    selector = widget(window, QComboBox, "checkpointSelector")
    assert selector.count() >= 2
    selector.setCurrentIndex(selector.count() - 1)
    assert not generate_tab(window).generate.running
    assert "another model" in page.status.text()
    n_shown = len(page.text.tokens_text())
    wait_generate_idle(qtbot, window)  # the new model's chart request
    generate_tab(window).redraw()
    assert len(page.text.tokens_text()) == n_shown
    assert inference(window).source() == selector.currentData()


def test_compare_runs_two_checkpoints_on_one_prompt_and_seed(window, qtbot, fables_run):
    run = fables_run
    assert open_run(window, run)
    set_sampling(window, max_tokens=30, seed=11)
    page = generate_page(window, "compare")
    wait_generate_idle(qtbot, window)
    sources = inference(window).sources()
    page.left_model.setCurrentIndex(len(sources) - 1)  # the oldest checkpoint
    page.right_model.setCurrentIndex(0)  # the newest
    page.prompt.setText("The owl ")
    qtbot.mouseClick(page.run, Qt.MouseButton.LeftButton)
    wait_generate_idle(qtbot, window)
    _, model, tok = load_trained_model(run)
    config = SamplingConfig(max_new_tokens=30, temperature=0.9, seed=11)
    for view, source in ((page.left_text, sources[-1]), (page.right_text, sources[0])):
        load_checkpoint(source.path, model)
        assert view.tokens_text() == run_generation(model, tok, "The owl ", config).text
    assert page.left_text.tokens_text() != page.right_text.tokens_text()
    assert "seed 11" in page.status.text()


def test_live_weights_generate_while_training_runs(window, qtbot):
    small_setup(window, steps=2000, eval_interval=2000)
    assert window.session.training.start()
    with wait_step(qtbot, window):
        pass
    tab = generate_tab(window)
    qtbot.waitUntil(lambda: tab.selector.count() >= 1
                    and tab.selector.itemData(0) is not None
                    and tab.selector.itemData(0).kind == "live", timeout=30_000)
    set_sampling(window, max_tokens=15)
    generate(qtbot, window, "The ")
    assert len(generation_events(window)) == 15
    assert training(window).state.is_running  # the run went on undisturbed
    with wait_step(qtbot, window):
        pass
    stop_training(window)
    wait_for_idle(qtbot, window)
    json.dumps([e.id for e in generation_events(window)])  # plain data


def test_the_learn_panel_explains_the_knobs(window):
    show_tab(window, "generate")
    panel = generate_tab(window).findChild(QFrame, "learnPanel")
    text = panel.findChild(QTextBrowser, "learnText").toPlainText()
    for words in ("Temperature", "Top-k", "top-p", "greedy repeats itself", "KV cache"):
        assert words in text


def test_a_text_stopped_inside_a_character_shows_its_bytes_not_garbage(qapp):
    from gptstudio.core.generation import GenerationResult, prompt_tokens
    from gptstudio.core.sampling import TokenEvent
    from gptstudio.ui.tabs.generate.flows import show_result
    from gptstudio.ui.tabs.generate.pieces import token_pieces
    from tests.test_sampling import TOK

    events = (TokenEvent(ord("a"), "a", 0.5, ()), TokenEvent(0xE2, "", 0.5, ()))
    result = GenerationResult(events, "a⟨e2⟩", "length", None, prompt_tokens(TOK, "x", 8),
                              0.01, 0.02)
    view = ShadedText("probe")
    view.set_prompt("x")
    view.append(token_pieces(events))
    show_result(view, result, token_pieces(events))
    shown = view.toPlainText()
    assert shown.startswith("xa⟨e2⟩") and "inside a character" in shown
    assert "\ufffd" not in shown
    cut = GenerationResult(events[:1], "", "stop_string", "a", prompt_tokens(TOK, "x", 8),
                           0.01, 0.02)
    show_result(view, cut, token_pieces(events[:1]))
    assert view.toPlainText() == "x" and view.tokens_text() == ""
