"""The Tokenizer tab, driven as a learner would: type, hover, click, train a BPE, scrub its
merges, compare tokenizers, browse the vocabulary and the training windows; tiktoken is the
oracle for GPT-2's ids, core's own functions for everything else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tiktoken
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QComboBox, QLabel, QPlainTextEdit, QPushButton, QTableView
from tiktoken.load import load_tiktoken_bpe

from gptstudio.core.data import SlidingWindowDataset, make_dataloader, tokenize_corpus
from gptstudio.core.tokenizers import GPT2_PATTERN, BPETokenizer
from gptstudio.core.tokenizers.lineage import with_first_merges
from gptstudio.core.tokenizers.pieces import display_text, readable, visible
from gptstudio.ui.tabs.tokenizer.token_view import TokenView
from tests.ui_fixtures import *  # noqa: F403 - fixtures
from tests.ui_fixtures import (
    QT_WARNINGS_FAIL, data, save_trained_bpe, show_tab, tokenizer_choice, tokenizer_lab,
    tokenizer_page, tokenizer_tab, wait_tokens,
)

# A token's tooltip may show while a test waits; offscreen Qt then notes it cannot raise it.
pytestmark = [*QT_WARNINGS_FAIL, pytest.mark.qt_log_ignore("does not support raise")]


def find(w, kind, name):
    widget = w.findChild(kind, name)
    assert widget is not None, name
    return widget


def set_text(w, qtbot, text: str, *, typed: bool = False) -> None:
    box = find(w, QPlainTextEdit, "tokenizerInput")
    box.clear()
    if typed:  # QTest types ASCII only: the rest is inserted as a paste would
        box.setFocus()
        head = text[:next((i for i, c in enumerate(text) if ord(c) > 127), len(text))]
        qtbot.keyClicks(box, head)
        box.insertPlainText(text[len(head):])
    else:
        box.setPlainText(text)


def gpt2_oracle(shared_data: Path) -> tiktoken.Encoding:
    ranks = load_tiktoken_bpe(str(shared_data / "gpt2.tiktoken"))
    return tiktoken.Encoding("gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": 50256})


def use_gpt2(w, qtbot, shared_data: Path, which="main") -> None:
    choice = tokenizer_choice(w, which)
    choice.choose_file(str(shared_data / "gpt2.tiktoken"))
    qtbot.waitUntil(lambda: choice.key().endswith("gpt2.tiktoken"), timeout=20_000)


def char_point(view: TokenView, position: int) -> QPoint:
    """The middle of the character at UTF-16 `position` of a view, in viewport coordinates."""
    cursor = QTextCursor(view.document())
    cursor.setPosition(position)
    left = view.cursorRect(cursor)
    cursor.setPosition(position + 1)
    right = view.cursorRect(cursor)
    return QPoint((left.x() + right.x()) // 2, left.center().y())


def train_bpe(w, qtbot, vocab_size: int = 300):
    page = tokenizer_page(w, "bpe")
    page.vocab.setValue(vocab_size)
    with qtbot.waitSignal(tokenizer_lab(w).bpe_trained, timeout=60_000) as done:
        find(w, QPushButton, "bpeTrainButton").click()
    return done.args[0]


def test_typed_text_becomes_spans_that_join_back_with_gpt2s_ids(window, qtbot, shared_data):
    tokenizer_page(window, "text")
    use_gpt2(window, qtbot, shared_data)
    text = "The fox looked into the well. Café crème!"
    set_text(window, qtbot, text, typed=True)
    wait_tokens(qtbot, window)
    view = find(window, TokenView, "tokenView")
    assert view.toPlainText() == text and view.shown_text == display_text(text)
    assert "".join(view.spans.pieces()) == text
    assert view.spans.ids.tolist() == gpt2_oracle(shared_data).encode(text)
    stats = find(window, QLabel, "tokenStats").text()
    assert stats.startswith(f"{len(view.spans)} tokens")


def test_hover_gives_the_id_and_a_click_the_merges_that_built_it(window, qtbot, shared_data):
    tokenizer_page(window, "text")
    use_gpt2(window, qtbot, shared_data)
    text = "learning tokenization"
    set_text(window, qtbot, text)
    wait_tokens(qtbot, window)
    view = find(window, TokenView, "tokenView")
    oracle = gpt2_oracle(shared_data)
    ids = oracle.encode(text)
    index = 1  # " token"
    start = int(view.spans.utf16_starts[index])
    point = char_point(view, start + 2)
    qtbot.mouseMove(view.viewport(), point)
    qtbot.waitUntil(lambda: f"id {ids[index]:,}" in view.last_hover)
    assert "text: ␣token" in view.last_hover and "bytes: 20 74 6f 6b 65 6e" in view.last_hover
    assert f"id {ids[index]:,}" in find(window, QLabel, "tokenDetail").text()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=point)
    assert tokenizer_page(window, "text").lineage_id == ids[index]
    lineage = window.findChild(object, "tokenLineage").toPlainText()
    assert "merge" in lineage and "Built from 6 bytes" in lineage
    qtbot.mouseMove(view.viewport(), QPoint(view.viewport().width() - 5, point.y()))
    qtbot.waitUntil(lambda: view.last_hover == "")  # past the end of the line: no token


def test_a_split_character_is_one_group_naming_its_byte_tokens(window, qtbot):
    trained = train_bpe(window, qtbot, 300)  # the fables are plain English: é is two bytes
    tokenizer_page(window, "text")
    tokenizer_choice(window).select("trained")
    set_text(window, qtbot, "a café")
    wait_tokens(qtbot, window)
    view = find(window, TokenView, "tokenView")
    (split,) = view.spans.splits
    assert split.char == "é" and len(split.tokens) == 2
    assert "\ufffd" not in view.toPlainText()
    qtbot.mouseMove(view.viewport(), char_point(view, split.utf16_start))
    qtbot.waitUntil(lambda: "split over 2 byte tokens" in view.last_hover)
    for index in split.tokens:
        assert f"id {int(view.spans.ids[index])}" in view.last_hover
    assert "⟨c3⟩" in view.last_hover and "⟨a9⟩" in view.last_hover
    assert view.spans.ids.tolist() == trained.encode("a café")


def test_training_a_bpe_of_300_streams_its_merges_and_the_slider_scrubs(window, qtbot):
    corpus_text = data(window).corpus.text
    text = "The fox and the heron walked to the well."
    set_text(window, qtbot, text)
    trained = train_bpe(window, qtbot, 300)
    reference = BPETokenizer.train(corpus_text, 300)  # the engine's training, run here
    assert trained.merges == reference.merges
    table = find(window, QTableView, "mergeTable")
    model = table.model()
    assert model.rowCount() == 300 - 257
    for row in (0, 42):
        cells = [model.index(row, c).data() for c in range(5)]
        left, right = (visible(readable(reference.token_bytes(i)))
                       for i in reference.merges[row])
        assert cells[:4] == [str(row + 1), f"{left}  +  {right}",
                             visible(readable(reference.token_bytes(256 + row))), str(256 + row)]
    page = tokenizer_page(window, "bpe")
    assert page.curve.getData()[0].tolist() == list(range(1, 44))
    slider = find(window, type(page.slider), "mergeSlider")
    assert slider.isEnabled() and slider.maximum() == 43
    wait_tokens(qtbot, window, "merges")
    merges_view = find(window, TokenView, "mergeView")
    assert merges_view.spans.ids.tolist() == trained.encode(text)
    for n in (10, 0):
        slider.setValue(n)
        wait_tokens(qtbot, window, "merges")
        assert merges_view.spans.ids.tolist() == with_first_merges(trained, n).encode(text)
        assert "".join(merges_view.spans.pieces()) == text
    assert len(merges_view.spans) == len(text.encode())  # no merges: one token a byte
    slider.setValue(10)
    wait_tokens(qtbot, window, "merges")
    assert merges_view.spans.ids.tolist() == BPETokenizer.train(corpus_text, 267).encode(text)
    assert "10 of 43 merges" in find(window, QLabel, "mergeSliderLabel").text()


def test_training_can_be_cancelled(window, qtbot):
    page = tokenizer_page(window, "bpe")
    page.vocab.setValue(100_000)  # far more merges than a moment's work
    lab = tokenizer_lab(window)
    find(window, QPushButton, "bpeTrainButton").click()
    assert lab.is_training
    with qtbot.waitSignal(lab.bpe_failed, timeout=30_000) as failed:
        find(window, QPushButton, "bpeCancelButton").click()
    assert failed.args == [""]
    qtbot.waitUntil(lambda: not lab.is_training)
    assert page.trained is None and page.train.isEnabled() and not page.error.isVisible()


def test_a_bpe_saved_here_becomes_the_next_runs_tokenizer(window, qtbot, tmp_path):
    trained = train_bpe(window, qtbot, 300)
    assert save_trained_bpe(window, tmp_path / "mine.json")
    from gptstudio.core.tokenizers import load_tokenizer

    assert load_tokenizer(tmp_path / "mine.json").fingerprint() == trained.fingerprint()
    find(window, QPushButton, "bpeUseButton").click()
    spec = data(window).tokenizer_spec
    assert Path(spec).is_file() and Path(spec).suffix == ".json"
    assert data(window).tokenizer.fingerprint() == trained.fingerprint()
    show_tab(window, "setup")
    selector = find(window, QComboBox, "tokenizerSelector")
    assert selector.currentData() == spec and Path(spec).name in selector.currentText()
    # ...and the tab lists it as Setup's tokenizer.
    labels = [tokenizer_choice(window).combo.itemText(i)
              for i in range(tokenizer_choice(window).combo.count())]
    assert f"Setup's tokenizer: {trained.name}" in labels


def test_the_window_explorer_shows_the_datasets_windows_and_a_batch(window, qtbot):
    page = tokenizer_page(window, "windows")
    qtbot.waitUntil(lambda: page.corpus_tokens is not None, timeout=30_000)
    find(window, type(page.block), "blockSizeSpin").setValue(8)
    find(window, type(page.stride), "strideSpin").setValue(3)
    find(window, type(page.index), "windowIndexSpin").setValue(5)
    tokens = tokenize_corpus(data(window).corpus, tokenizer_choice(window).tokenizer())
    x, y = page.shown_window()
    dx, dy = SlidingWindowDataset(tokens, 8, 3)[5]
    assert x.tolist() == dx.tolist() and y.tolist() == dy.tolist()
    bx, by = next(iter(make_dataloader(tokens, 8, 4, stride=3, seed=0)))
    assert np.array_equal(page.x_model.ids, bx.numpy())
    assert np.array_equal(page.y_model.ids, by.numpy())
    stats = find(window, QLabel, "windowStats").text()
    assert f"{len(SlidingWindowDataset(tokens, 8, 3)):,} windows" in stats
    assert "share 5 tokens" in stats
    find(window, type(page.stride), "strideSpin").setValue(20)
    assert "12 tokens between two are skipped" in find(window, QLabel, "windowStats").text()
    assert page.error.isHidden()


def test_compare_shows_each_tokenizer_with_its_vocabulary_and_counts(window, qtbot,
                                                                     shared_data):
    text = "The fox looked into the well and saw the moon."
    set_text(window, qtbot, text)
    page = tokenizer_page(window, "compare")
    tokenizer_choice(window, 1).select("char")
    use_gpt2(window, qtbot, shared_data, which=3)
    for key in ("compare1", "compare2", "compare3"):
        wait_tokens(qtbot, window, key)
    char_view = find(window, TokenView, "compareView1")
    gpt2_view = find(window, TokenView, "compareView3")
    assert len(char_view.spans) == len(text)
    assert gpt2_view.spans.ids.tolist() == gpt2_oracle(shared_data).encode(text)
    assert "50,257" in find(window, QLabel, "compareStats3").text()
    assert len(gpt2_view.spans) < len(char_view.spans)
    # Offline with an empty cache, the named encodings are listed but disabled, with why.
    combo = find(window, QComboBox, "compareChoice2")
    item = combo.model().item(combo.findData("cl100k_base"))
    assert not item.isEnabled() and "TIKTOKEN_CACHE_DIR" in item.toolTip()
    assert page.isVisible()


def test_the_vocabulary_browser_searches_sorts_and_shows_parents(window, qtbot, shared_data):
    use_gpt2(window, qtbot, shared_data)
    page = tokenizer_page(window, "vocab")
    qtbot.waitUntil(lambda: page.vocab is not None, timeout=30_000)
    find(window, type(page.search), "vocabSearch").setText("␣the")
    qtbot.waitUntil(lambda: page.model.rowCount() < 100, timeout=5_000)
    ids = [int(page.model.ids[r]) for r in range(page.model.rowCount())]
    ranks = load_tiktoken_bpe(str(shared_data / "gpt2.tiktoken"))
    assert ids == sorted(r for t, r in ranks.items() if b" the" in t)
    row = ids.index(262)  # " the" = " t" + "he"
    assert page.model.index(row, 3).data() == "␣t  +  he"
    table = find(window, QTableView, "vocabTable")
    table.selectRow(row)
    assert "Built from 4 bytes" in window.findChild(object, "vocabLineage").toPlainText()
    page.order.setCurrentIndex(page.order.findData("length"))
    lengths = [int(page.model.index(r, 2).data()) for r in range(page.model.rowCount())]
    assert lengths == sorted(lengths, reverse=True)


def test_bad_input_gets_a_message_beside_the_field_and_nothing_is_lost(window, qtbot,
                                                                       tmp_path, shared_data):
    tokenizer_page(window, "text")
    set_text(window, qtbot, "")
    wait_tokens(qtbot, window)
    assert "No text yet" in find(window, QLabel, "tokenStats").text()
    # <|endoftext|> is one special token, or plain text when unticked.
    use_gpt2(window, qtbot, shared_data)
    set_text(window, qtbot, "a<|endoftext|>b\x00\x1b")
    wait_tokens(qtbot, window)
    view = find(window, TokenView, "tokenView")
    assert 50256 in view.spans.ids.tolist() and view.spans.special.sum() == 1
    note = find(window, QLabel, "tokenizerInputNote")
    assert "special token" in note.text() and "Control characters" in note.text()
    window.findChild(object, "specialTokensCheck").setChecked(False)
    wait_tokens(qtbot, window)
    assert view.spans.ids.tolist() == gpt2_oracle(shared_data).encode_ordinary(
        "a<|endoftext|>b\x00\x1b")
    # A corrupt tokenizer file and a .tiktoken that is not one: said beside the picker.
    choice = tokenizer_choice(window)
    for name, content in (("broken.json", '{"format": "gptstudio-tokenizer", "vers'),
                          ("fake.tiktoken", "this is not a rank file\n")):
        bad = tmp_path / name
        bad.write_text(content, encoding="utf-8")
        choice.choose_file(str(bad))
        qtbot.waitUntil(lambda: choice.error.isVisible(), timeout=10_000)
        assert str(bad) in choice.error.text() or name in choice.error.text()
        assert choice.key().endswith("gpt2.tiktoken")  # the previous choice stays
    # A character the corpus's characters lack: said beside the view.
    choice.select("char")
    set_text(window, qtbot, "Ünïcödé")
    wait_tokens(qtbot, window)
    error = find(window, type(choice.error), "tokenViewError")
    assert error.isVisible() and "U+00DC" in error.text()
    assert find(window, QPlainTextEdit, "tokenizerInput").toPlainText() == "Ünïcödé"
    assert window.last_error is None  # no dialog: the message is beside the field


def test_a_10_mb_paste_goes_in_by_slices_is_drawn_in_part_and_counted_whole(window, qtbot,
                                                                             shared_data):
    from PySide6.QtWidgets import QApplication

    use_gpt2(window, qtbot, shared_data)
    tokenizer_page(window, "text")
    text = (shared_data / "tinyshakespeare.txt").read_text(encoding="utf-8") * 10
    assert len(text.encode()) > 10_000_000
    box = find(window, QPlainTextEdit, "tokenizerInput")
    box.clear()
    QApplication.clipboard().setText(text)
    box.paste()
    assert box.pasting and box.isReadOnly()  # the rest goes in a slice per event-loop turn
    qtbot.waitUntil(lambda: not box.pasting, timeout=60_000)
    assert not box.isReadOnly()
    wait_tokens(qtbot, window, timeout=60_000)
    view = find(window, TokenView, "tokenView")
    assert view.spans.n_chars <= 2_000_000 and text.startswith(view.spans.text)
    assert "the counts cover all" in find(window, QLabel, "tokenStats").text()
    assert f"{len(text):,}" in find(window, QLabel, "tokenStats").text()
    assert box.document().characterCount() == len(text) + 1  # nothing lost (+ its last end)
    assert tokenizer_tab(window).text() == text


def test_the_learn_panel_explains_this_stage_and_folds(window):
    panel = tokenizer_tab(window).findChild(object, "learnPanel")
    assert panel is not None and "BPE" in panel.browser.toPlainText()
    panel.toggle.click()
    assert not panel.expanded and panel.browser.isHidden()


def test_a_full_pass_evaluation_from_the_app_is_the_engines(window, qtbot, tmp_path):
    from tests.test_ui_services import _trained_run
    from gptstudio.core.pipeline import evaluate_run

    path = _trained_run(tmp_path / "run")
    assert window.session.open_run(path)
    page = tokenizer_page(window, "windows")
    page.stride.setValue(4)
    lab = tokenizer_lab(window)
    with qtbot.waitSignal(lab.evaluated, timeout=120_000) as done:
        find(window, QPushButton, "fullPassButton").click()
    expected = evaluate_run(path, stride=4)
    assert done.args[0] == expected
    assert f"loss {expected.loss:.4f}" in find(window, QLabel, "fullPassResult").text()
