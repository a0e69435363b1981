"""The app follows the device: models for the Generate/Attention tabs are read on Setup's device
(or the live run's), the Setup model box measures that device's memory, starting a run shows the
corpus's tokenizing progress, and the tabs never read a big corpus whole.

No GPU is needed: torch is made to report one, and the service's device resolution maps "a CUDA
device" to PyTorch's "meta" device, so a job can see where its model's tensors are. The real
thing on a GPU is in tests/test_device_cuda.py.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtWidgets import QApplication

from gptstudio.core.corpora import Corpus, load_builtin
from gptstudio.core.data import TokenizeProgress
from gptstudio.core.model import from_preset
from gptstudio.core.tokenizers import CharTokenizer
from gptstudio.core.train import Run, TrainConfig
from gptstudio.core.train.device import resolve_device
from tests.ui_fixtures import *  # noqa: F403 - fixtures
from tests.ui_fixtures import (
    QT_WARNINGS_FAIL, attention_tab, controls, data, inference, model_box, open_corpus, session,
    small_setup, start_training, training, training_box, wait_for_idle, wait_step,
)

pytestmark = QT_WARNINGS_FAIL


def _trained_run(path: Path, device: str = "cpu") -> Path:
    """A small run trained headless; its saved device is then set to `device`."""
    from gptstudio.core.pipeline import prepare_new_training

    corpus = load_builtin("fables")
    tok = CharTokenizer.from_text(corpus.text)
    model = from_preset("nano", n_layer=1, n_head=2, n_embd=16, block_size=16)
    config = TrainConfig(max_steps=2, batch_size=2, eval_interval=0, eval_iters=1,
                         sample_interval=0, checkpoint_interval=2, warmup_steps=1,
                         precision="fp32", compile="off", device="cpu")
    prepared = prepare_new_training(path, corpus, tok, model, config,
                                    corpus_spec="builtin:fables")
    for _ in prepared.trainer.events():
        pass
    run = Run.open(path)
    run.save_train_config(run.train_config.replace(device=device))
    return path


def _fake_gpu(monkeypatch) -> list[str]:
    """torch reports one CUDA GPU; the inference service reads "its" models on the meta device.
    Returns the specs the service asked about."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: "Fake GPU")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (12 << 30, 80 << 30))
    asked: list[str] = []

    def fake(spec: str):
        asked.append(spec)
        device = resolve_device(spec)
        return (torch.device("meta") if device.type == "cuda" else device), ""

    monkeypatch.setattr("gptstudio.ui.services.inference.inference_device", fake)
    return asked


def _device_of_model(window, qtbot) -> str:
    with qtbot.waitSignal(inference(window).result_ready, timeout=30_000) as got:
        inference(window).submit(lambda model, _tok: str(next(model.parameters()).device))
    return got.args[1]


def test_checkpoints_are_read_on_the_device_setup_names(window, qtbot, tmp_path, monkeypatch):
    path = _trained_run(tmp_path / "run")
    asked = _fake_gpu(monkeypatch)
    assert session(window).open_run(path)
    training_box(window).set_field("device", "cuda")
    assert training(window).plan.train_config.device == "cuda"
    assert _device_of_model(window, qtbot) == "meta"  # i.e. on "the GPU"
    assert asked[-1] == "cuda"
    # The model box measures that device's free memory (the driver's figure), not the RAM.
    assert "Free on CUDA 0: Fake GPU" in model_box(window).estimates.text()
    training_box(window).set_field("device", "cpu")
    assert "Free on" not in model_box(window).estimates.text()  # the CPU: as before
    # Another device, another model: the CPU one holds the checkpoint's weights.
    with qtbot.waitSignal(inference(window).result_ready, timeout=30_000) as got:
        inference(window).submit(lambda m, _t: m.state_dict()["lm_head.weight"].clone())
    from gptstudio.core.pipeline import load_trained_model

    expected = load_trained_model(path)[1].state_dict()["lm_head.weight"]
    assert got.args[1].device.type == "cpu" and torch.equal(got.args[1], expected)


def test_a_run_made_for_an_absent_gpu_is_read_on_the_cpu_with_the_reason(window, qtbot,
                                                                            tmp_path):
    from gptstudio.core.inspect import attention_maps
    from gptstudio.core.pipeline import load_trained_model

    if torch.cuda.is_available():
        pytest.skip("this machine has the GPU the run asks for")
    path = _trained_run(tmp_path / "run", device="cuda")
    assert session(window).open_run(path)
    assert training(window).plan.train_config is None  # Setup marks the absent device
    said = []
    session(window).status_message.connect(said.append)
    assert inference(window).device().type == "cpu"
    assert "CUDA GPU was asked for" in inference(window).device_note
    assert said == [inference(window).device_note]  # the status bar says why, once
    assert inference(window).device().type == "cpu" and len(said) == 1
    with qtbot.waitSignal(inference(window).attention_ready, timeout=30_000) as got:
        inference(window).request_attention("The fox")
    _, model, tok = load_trained_model(path)
    for ours, reference in zip(got.args[0].weights, attention_maps(model, tok, "The fox").weights):
        np.testing.assert_allclose(ours, reference, atol=1e-6)


def test_live_weights_are_read_on_the_device_the_run_trains_on(window, qtbot):
    small_setup(window, steps=400, eval_interval=400)
    training_box(window).set_field("device", "cpu")
    assert start_training(window)
    with wait_step(qtbot, window):
        pass
    run = training(window).current_run
    assert run.torch_device == "cpu"
    assert _device_of_model(window, qtbot) == "cpu"
    # A run on a GPU says so in its RunStarted ("cuda:0"); its snapshot goes back there.
    training(window).current_run = dataclasses.replace(run, torch_device="meta")
    inference(window).latest_weights = None  # a fresh snapshot, so a new model is built
    assert _device_of_model(window, qtbot) == "meta"
    training(window).stop()
    wait_for_idle(qtbot, window)


def test_starting_a_run_shows_the_corpus_tokenizing_in_order(window, qtbot, tmp_path,
                                                              monkeypatch):
    from gptstudio.core import pipeline
    from gptstudio.ui.workers.train import RunStarted

    path = tmp_path / "corpus.txt"
    path.write_text("".join(f"Line {i} of the fox and the crow.\n" for i in range(300)))
    open_corpus(window, path)
    qtbot.waitUntil(lambda: data(window).corpus is not None and data(window).tokenizer
                    is not None and data(window).corpus.source == str(path), timeout=30_000)
    small_setup(window, steps=2, eval_interval=2)
    # Small chunks, so a small corpus reports many times.
    monkeypatch.setattr(pipeline, "tokenize_corpus",
                        functools.partial(pipeline.tokenize_corpus, chunk_chars=500))
    bar = window.statusBar()
    seen = []  # (event, what the status bar and the Train tab showed once it arrived)

    def record(event):
        if isinstance(event, (TokenizeProgress, RunStarted)):
            seen.append((event, bar.currentMessage(), controls(window).progress.format()))

    training(window).event_reported.connect(record)  # after the window's own slots
    training(window).run_started.connect(record)
    assert start_training(window)
    wait_for_idle(qtbot, window)
    progress = [(e, m, f) for e, m, f in seen if isinstance(e, TokenizeProgress)]
    assert isinstance(seen[-1][0], RunStarted)  # every progress event came before the start
    n_bytes = data(window).corpus.n_bytes
    assert len(progress) >= 10
    done = [e.done_bytes for e, _, _ in progress]
    assert done[0] == 0 and done[-1] == n_bytes and done == sorted(done)
    assert all(e.total_bytes == n_bytes for e, _, _ in progress)
    for event, message, bar_format in progress:
        percent = f"{event.done_bytes / n_bytes:.0%}"
        assert message.startswith("Tokenizing the corpus") and percent in message
        assert bar_format == message  # the Train tab's bar says the same
    assert not bar.currentMessage().startswith("Tokenizing")  # gone once the run started
    assert window.last_error is None


def test_the_tabs_read_only_the_first_million_characters_of_a_big_corpus(window, qtbot,
                                                                         tmp_path, monkeypatch):
    from gptstudio.core.attention import default_probe

    path = tmp_path / "big.txt"
    line = "The fox saw the crow high up in a tree, holding a piece of cheese.\n"
    body = line * (1_000_000 // len(line) + 1)
    path.write_text(body + "Ω is only here, after the first million characters.\n")
    open_corpus(window, path)
    qtbot.waitUntil(lambda: data(window).corpus is not None and data(window).tokenizer
                    is not None and data(window).corpus.source == str(path), timeout=60_000)
    corpus = data(window).corpus
    corpus.__dict__.pop("text", None)  # whatever read it before (the data service): forgotten
    monkeypatch.setattr(Corpus, "text", property(lambda self: pytest.fail("read whole")))
    tab = window.tab("tokenizer")
    tab._on_corpus_changed(corpus)  # noqa: SLF001 - what a new corpus does to the tab
    char = tab.choices.tokenizers["char"]  # the characters of the first million only
    assert char.vocab_size == len(set(line)) + 1  # + <|endoftext|>; no "Ω"
    tab.take_passage()
    assert tab.text() and tab.text() in body
    with qtbot.waitSignal(tab.lab.bpe_trained, timeout=60_000):
        tab.wiring.train_bpe(260, "gpt2")
        assert "first 1,000,000 characters" in tab.bpe_page.progress.format()
    settings = attention_tab(window).recording
    attention_tab(window).record.user_edited = False
    settings._on_data_changed()  # noqa: SLF001 - what a new corpus does to the probe
    probe = attention_tab(window).record.probe.text()
    assert probe and probe == default_probe(body[:20_000], data(window).tokenizer)
    QApplication.processEvents()
    assert window.last_error is None
