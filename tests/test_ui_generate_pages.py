"""The Generate tab's other pages: How surprised? (per-token loss) and Chat (the instruction
template for instruction-tuned runs, plain text otherwise, transcripts), against the engine."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QTextBrowser

from gptstudio.core.chat import (
    ChatTurn, chat_prompt, chat_stop_strings, clean_reply, transcript_markdown,
)
from gptstudio.core.finetune.template import ALPACA_TEMPLATE
from gptstudio.core.generation import run_generation
from gptstudio.core.pipeline import load_trained_model
from gptstudio.core.sampling import SamplingConfig
from gptstudio.core.scoring import score_text
from gptstudio.ui.tabs.generate.shaded_text import ShadedText
from tests.ui_fixtures import *  # noqa: F403 - fixtures
from tests.ui_fixtures import (
    QT_WARNINGS_FAIL, generate_page, generate_tab, inference, open_run, save_chat_transcript,
    wait_generate_idle,
)
from tests.ui_gen_runs import fables_run, tuned_run  # noqa: F401 - fixtures

pytestmark = QT_WARNINGS_FAIL
TEXT = "The fox looked into the well and saw the moon."


def test_score_shades_each_token_by_its_loss_and_gives_the_passages_figures(window, qtbot,
                                                                          fables_run):
    run = fables_run
    assert open_run(window, run)
    page = generate_page(window, "score")
    wait_generate_idle(qtbot, window)
    page.input.setPlainText(TEXT)
    qtbot.mouseClick(page.run, Qt.MouseButton.LeftButton)
    wait_generate_idle(qtbot, window)
    _, model, tok = load_trained_model(run)
    expected = score_text(model, tok, TEXT)
    view = window.findChild(ShadedText, "scoredText")
    assert view.tokens_text() == TEXT
    shades = [p.shade for p in view.pieces]
    uniform = math.log(tok.vocab_size)
    assert shades == pytest.approx([min(1.0, t.loss / uniform) for t in expected.tokens])
    summary = window.findChild(QLabel, "scoreSummary").text()
    assert f"Mean loss {expected.mean_loss:.3f}" in summary
    assert f"perplexity {expected.perplexity:,.2f}" in summary
    assert "loss" in view.pieces[3].tooltip and "expected" in view.pieces[3].tooltip


def test_scoring_empty_or_unknown_text_says_why(window, qtbot, fables_run):
    assert open_run(window, fables_run)
    page = generate_page(window, "score")
    wait_generate_idle(qtbot, window)
    qtbot.mouseClick(page.run, Qt.MouseButton.LeftButton)
    assert "Paste or type some text" in page.summary.text()
    page.input.setPlainText("naïve ☃")
    qtbot.mouseClick(page.run, Qt.MouseButton.LeftButton)
    wait_generate_idle(qtbot, window)
    assert "not in the vocabulary" in page.summary.text() and page.run.isEnabled()


def test_chat_with_an_instruction_tuned_run_uses_its_template(window, qtbot, tuned_run,
                                                              tmp_path):
    run = tuned_run
    assert open_run(window, run)
    page = generate_page(window, "chat")
    wait_generate_idle(qtbot, window)
    notice = window.findChild(QLabel, "chatNotice").text()
    assert "fine-tuned on instructions" in notice
    # A fine-tune is read as the pipeline reads it: its latest checkpoint, LoRA merged.
    assert [s.label for s in inference(window).sources()] == ["Fine-tuned, step 8"]
    tab = generate_tab(window)
    tab.controls.max_tokens.setValue(20)
    tab.controls.seed.setValue(5)
    page.input.setPlainText("Name a colour.")
    qtbot.mouseClick(page.send, Qt.MouseButton.LeftButton)
    wait_generate_idle(qtbot, window)
    _, model, tok = load_trained_model(run)
    config = SamplingConfig(max_new_tokens=20, temperature=0.8, seed=5)
    prompt = chat_prompt([], "Name a colour.", tok, block_size=model.config.block_size,
                         reply_tokens=20, template=ALPACA_TEMPLATE)
    stops = replace(config, stop_strings=chat_stop_strings(ALPACA_TEMPLATE))
    reply = clean_reply(run_generation(model, tok, prompt.text, stops).text)
    assert page.turns == [ChatTurn("user", "Name a colour."), ChatTurn("assistant", reply)]
    generate_tab(window).redraw()  # a timer tick after the end changes nothing
    shown = window.findChild(QTextBrowser, "chatView").toPlainText()
    assert shown.count("Name a colour.") == 1 and shown.count("Model") == 1
    assert reply in shown and "▌" not in shown
    # A second message carries the first exchange as history (within the context).
    page.input.setPlainText("Another?")
    qtbot.mouseClick(page.send, Qt.MouseButton.LeftButton)
    wait_generate_idle(qtbot, window)
    assert [t.role for t in page.turns] == ["user", "assistant", "user", "assistant"]
    # Copy and Save give the Markdown transcript.
    qtbot.mouseClick(page.copy, Qt.MouseButton.LeftButton)
    expected = transcript_markdown(page.turns, model=page.model_label)
    assert QGuiApplication.clipboard().text() == expected
    path = tmp_path / "chat.md"
    assert save_chat_transcript(window, path)
    assert path.read_text(encoding="utf-8") == expected


def test_chat_with_a_plain_run_says_what_to_expect_and_continues_the_text(window, qtbot,
                                                                          fables_run):
    run = fables_run
    assert open_run(window, run)
    page = generate_page(window, "chat")
    wait_generate_idle(qtbot, window)
    assert "not instruction-tuned" in window.findChild(QLabel, "chatNotice").text()
    tab = generate_tab(window)
    tab.controls.max_tokens.setValue(15)
    page.input.setPlainText("The fox")
    page.input.setFocus()
    qtbot.keyClick(page.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    wait_generate_idle(qtbot, window)
    _, model, tok = load_trained_model(run)
    prompt = chat_prompt([], "The fox", tok, block_size=32, reply_tokens=15, template=None)
    config = SamplingConfig(max_new_tokens=15, temperature=0.8, seed=42)
    assert page.turns[-1] == ChatTurn(
        "assistant", clean_reply(run_generation(model, tok, prompt.text, config).text))
    # An empty message is refused in place; nothing is sent.
    qtbot.mouseClick(page.send, Qt.MouseButton.LeftButton)
    assert "Type a message" in page.status.text() and len(page.turns) == 2


def test_an_imported_gpt2_run_generates_like_the_engine(window, qtbot, tmp_path):
    from gptstudio.core.corpora import load_builtin
    from gptstudio.core.hf_gpt2 import export_hf_gpt2
    from gptstudio.core.model import build_model, from_preset
    from gptstudio.core.pipeline import import_gpt2_run
    from gptstudio.core.tokenizers import CharTokenizer

    tok = CharTokenizer.from_text(load_builtin("fables").text)
    torch.manual_seed(3)
    gpt = build_model(from_preset("gpt2", n_layer=1, n_head=2, n_embd=16, block_size=32,
                                  vocab_size=tok.vocab_size))
    run = import_gpt2_run(export_hf_gpt2(gpt, tmp_path / "hf"), tmp_path / "imported",
                          tokenizer=tok).path
    assert open_run(window, run)
    page = generate_page(window)
    wait_generate_idle(qtbot, window)
    tab = generate_tab(window)
    tab.controls.max_tokens.setValue(20)
    page.prompt.setPlainText("The hare ")
    qtbot.mouseClick(page.generate, Qt.MouseButton.LeftButton)
    wait_generate_idle(qtbot, window)
    _, model, _ = load_trained_model(run)
    config = SamplingConfig(max_new_tokens=20, temperature=0.8, seed=42)
    assert page.text.tokens_text() == run_generation(model, tok, "The hare ", config).text
