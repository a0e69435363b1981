"""The Setup tab: corpora (bundled, synthetic, download with progress), tokenizers, estimates."""

from __future__ import annotations

import hashlib
import importlib
import http.server
import threading
from pathlib import Path

import pytest
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import QPushButton

from tests.ui_fixtures import *  # noqa: F403 - fixtures
from tests.ui_fixtures import (QT_WARNINGS_FAIL, corpus_box, data, model_box, setup_tab,
                               tokenizer_box, training_box)

pytestmark = QT_WARNINGS_FAIL


def test_every_builtin_corpus_is_offered(window):
    from gptstudio.core.corpora import BUILTIN_CORPORA, KNOWN_DOWNLOADS

    selector = corpus_box(window).selector
    specs = {selector.itemData(i) for i in range(selector.count())}
    assert {f"builtin:{n}" for n in BUILTIN_CORPORA} <= specs
    assert {f"download:{n}" for n in KNOWN_DOWNLOADS} <= specs


def test_choosing_a_synthetic_task_loads_it_with_its_size_and_preview(window, qtbot):
    box = corpus_box(window)
    index = box.selector.findData("builtin:addition")
    with qtbot.waitSignal(data(window).corpus_changed, timeout=20_000):
        box.selector.setCurrentIndex(index)
        box.selector.activated.emit(index)
    corpus = data(window).corpus
    assert corpus.name == "addition"
    assert f"{corpus.n_chars:,} characters" in box.info.text()
    assert "+" in box.preview.toPlainText() and "=" in box.preview.toPlainText()
    # The character tokenizer was rebuilt for the digits of this corpus.
    assert data(window).tokenizer.vocab_size < 20
    assert model_box(window).vocab_size == data(window).tokenizer.vocab_size


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def local_server(shared_data: Path):
    """Serves ../shared/data on 127.0.0.1 (tests never use the network)."""
    handler = lambda *a, **k: _QuietHandler(*a, directory=str(shared_data), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join()


def test_downloading_a_known_corpus_shows_progress(window, qtbot, local_server, shared_data,
                                                   monkeypatch):
    # The package exports a function named `download`, hiding the module of the same name.
    download_module = importlib.import_module("gptstudio.core.corpora.download")
    served = (shared_data / "the-verdict.txt").read_bytes()
    known = download_module.KNOWN_DOWNLOADS["the-verdict"]
    local = type(known)(known.name, f"{local_server}/the-verdict.txt",
                        hashlib.sha256(served).hexdigest(), known.filename, len(served))
    monkeypatch.setitem(download_module.KNOWN_DOWNLOADS, "the-verdict", local)
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", "0")  # the engine refuses every download offline
    box = corpus_box(window)
    progress = []
    data(window).corpus_progress.connect(lambda e: progress.append(e.done_bytes))
    with qtbot.waitSignal(data(window).corpus_changed, timeout=20_000):
        index = box.selector.findData("download:the-verdict")
        box.selector.setCurrentIndex(index)
        box.selector.activated.emit(index)
    assert progress and progress[-1] == len(served)
    assert data(window).corpus.n_bytes == len(served)
    assert not box.progress.isVisible()  # hidden again when done


def test_tiktoken_encodings_are_disabled_with_the_reason_when_offline(window):
    box = tokenizer_box(window)
    model = box.selector.model()
    assert isinstance(model, QStandardItemModel)
    for name in ("gpt2", "cl100k_base", "o200k_base"):
        item = model.item(box.selector.findData(name))  # a named encoding's spec
        assert not item.isEnabled()
        assert "TIKTOKEN_CACHE_DIR" in item.toolTip()
    box.selector.setCurrentIndex(box.selector.findData("gpt2"))
    box._update_panels()
    assert "TIKTOKEN_CACHE_DIR" in box.reason.text()


def test_a_tiktoken_file_can_be_loaded_as_the_tokenizer(window, qtbot, shared_data):
    with qtbot.waitSignal(data(window).tokenizer_changed, timeout=30_000,
                          check_params_cb=lambda t: t is not None):
        data(window).set_tokenizer(str(shared_data / "gpt2.tiktoken"))
    assert data(window).tokenizer.vocab_size == 50257
    assert model_box(window).vocab_size == 50257
    box = tokenizer_box(window)
    assert "50,257" in box.info.text()
    assert box.selector.currentText() == "File: gpt2.tiktoken"
    assert "token by token" in box.example.text()


def test_bpe_trains_in_the_background_with_progress(window, qtbot):
    box = tokenizer_box(window)
    box.selector.setCurrentIndex(box.selector.findData("bpe"))
    box.selector.activated.emit(box.selector.currentIndex())
    assert data(window).tokenizer is None
    assert any("Train the BPE" in p for p in setup_tab(window).problems())
    box.vocab.setValue(300)
    merges = []
    data(window).tokenizer_progress.connect(lambda e: merges.append(e.index))
    with qtbot.waitSignal(data(window).tokenizer_changed, timeout=60_000,
                          check_params_cb=lambda t: t is not None):
        window.findChild(QPushButton, "trainTokenizerButton").click()
    tokenizer = data(window).tokenizer
    assert tokenizer.kind == "bpe" and tokenizer.vocab_size == 300
    assert merges[-1] == 300 - 257 - 1  # 256 bytes + <|endoftext|> + 43 merges
    assert "bytes per token" in box.info.text()
    assert setup_tab(window).problems() == []


def test_bpe_training_can_be_cancelled(window, qtbot):
    box = tokenizer_box(window)
    box.selector.setCurrentIndex(box.selector.findData("bpe"))
    box.vocab.setValue(50_000)  # far more merges than the fables allow: it would take a while
    with qtbot.waitSignal(data(window).tokenizer_progress, timeout=60_000):
        window.findChild(QPushButton, "trainTokenizerButton").click()
    assert box.progress.isVisible()
    with qtbot.waitSignal(data(window).tokenizer_failed, timeout=30_000) as failed:
        box.cancel.click()
    assert failed.args == [""]  # cancelled: no error message
    assert data(window).tokenizer is None and not box.progress.isVisible()
    assert window.last_error is None


def test_model_estimates_follow_the_fields_as_you_type(window):
    model = model_box(window)
    model.set_preset("nano")
    small = model.estimate.n_params
    model.gpt_fields["n_layer"].setValue(6)
    assert model.estimate.n_params > small
    assert "parameters" in model.estimates.text() and "FLOP" in model.estimates.text()
    training_box(window).set_field("batch_size", "64")
    assert "batch 64" in model.estimates.text()


def test_a_preset_sets_biases_and_activation_and_the_user_can_change_them(window, qtbot):
    model = model_box(window)
    model.set_preset("gpt2")
    assert model.bias.isChecked() and model.activation.currentData() == "gelu_tanh"
    model.set_preset("tiny")
    assert not model.bias.isChecked() and model.activation.currentData() == "gelu"
    assert setup_tab(window).model_config().activation == "gelu"
    assert not model.preset_note.isVisibleTo(model)
    model.activation.setCurrentIndex(model.activation.findData("gelu_tanh"))
    assert setup_tab(window).model_config().activation == "gelu_tanh"
    assert model.preset_note.isVisibleTo(model)  # "changed from the preset"
    state = model.state()
    model.set_preset("gpt2")
    model.activation.setCurrentIndex(model.activation.findData("gelu"))
    model.restore(state)
    assert model.preset_name() == "tiny" and model.activation.currentData() == "gelu_tanh"


def test_a_saved_state_without_switches_keeps_its_presets(window):
    model = model_box(window)
    model.set_preset("gpt2")  # biases, tied head
    model.restore({"arch": "gpt", "preset": "tiny", "gpt": {"n_layer": 4}})
    assert model.preset_name() == "tiny"
    assert not model.bias.isChecked() and not model.tie.isChecked()  # tiny's, not a fixed default
    assert not setup_tab(window).model_config().tie_weights


def test_a_decimal_comma_is_refused_and_thousands_separators_are_read(window):
    box = training_box(window)
    box.set_field("learning_rate", "0,5e-3")  # not 0.005, as dropping the comma would read it
    assert box.config() is None
    assert "with a point" in box.errors["learning_rate"]
    box.set_field("learning_rate", "5e-4")
    box.set_field("max_steps", "10,000")
    config = box.config()
    assert config is not None and (config.learning_rate, config.max_steps) == (5e-4, 10_000)
    box.set_field("max_steps", "10,00")
    assert box.config() is None and "with a point" in box.errors["max_steps"]


def test_the_lstm_baseline_can_be_chosen(window):
    model = model_box(window)
    model.arch.setCurrentIndex(model.arch.findData("lstm"))
    config = setup_tab(window).model_config()
    assert config.arch == "lstm" and config.vocab_size == data(window).tokenizer.vocab_size
    assert not model.preset.isEnabled()
    assert setup_tab(window).problems() == []


def test_a_preset_brings_its_dropout_to_the_training_box(window):
    model_box(window).set_preset("small")
    assert training_box(window).texts()["dropout"] == "0.2"
    assert setup_tab(window).model_config().dropout == 0.2


def test_a_sample_prompt_outside_the_char_vocabulary_blocks_start(window):
    training_box(window).set_field("sample_prompt", "日本")
    problems = setup_tab(window).problems()
    assert any("sample prompt" in p for p in problems)
    label = training_box(window).form.errors["sample_prompt"]
    assert label.isVisible()


def test_python_source_on_this_machine_is_a_corpus(window, qtbot):
    box = corpus_box(window)
    index = box.selector.findData("builtin:python-stdlib")
    with qtbot.waitSignal(data(window).corpus_changed, timeout=30_000):
        box.selector.setCurrentIndex(index)
        box.selector.activated.emit(index)
    assert "def " in data(window).corpus.text
    assert setup_tab(window).problems() == []


def test_open_file_from_the_corpus_list_uses_the_file_dialog(window, qtbot, tmp_path,
                                                             monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    text = tmp_path / "notes.md"
    text.write_text("# Notes\n\nSome notes to learn from.\n" * 40, encoding="utf-8")
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *a, **k: (str(text), "")))
    box = corpus_box(window)
    with qtbot.waitSignal(data(window).corpus_changed, timeout=10_000):
        box.selector.activated.emit(box.selector.findData("action:file"))
    assert box.current_spec() == str(text)
    assert box.selector.currentText() == "File: notes.md"
