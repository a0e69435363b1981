"""The services behind the tabs: the inference service's model (live weights or a checkpoint),
snapshots asked for mid-run, and the runs that used to get stuck (imported, never checkpointed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PySide6.QtWidgets import QPushButton

from gptstudio.core.corpora import load_builtin
from gptstudio.core.model import build_model, from_preset
from gptstudio.core.tokenizers import CharTokenizer
from gptstudio.core.train import Run, TrainConfig, load_checkpoint
from tests.ui_fixtures import *  # noqa: F403 - fixtures
from tests.ui_fixtures import (
    QT_WARNINGS_FAIL, controls, data, history, inference, run_dir, runs, session, small_setup,
    start_training, training, wait_for_idle, wait_step,
)

pytestmark = QT_WARNINGS_FAIL


def _fables_char():
    corpus = load_builtin("fables")
    return corpus, CharTokenizer.from_text(corpus.text)


def _trained_run(path: Path, steps: int = 4) -> Path:
    """A small run trained headless through the engine's pipeline (as the CLI does)."""
    from gptstudio.core.pipeline import prepare_new_training

    corpus, tok = _fables_char()
    model = from_preset("nano", n_layer=1, n_head=2, n_embd=16, block_size=16)
    config = TrainConfig(max_steps=steps, batch_size=2, eval_interval=0, eval_iters=1,
                         sample_interval=0, checkpoint_interval=2, warmup_steps=1,
                         precision="fp32", compile="off")
    prepared = prepare_new_training(path, corpus, tok, model, config,
                                    corpus_spec="builtin:fables")
    for _ in prepared.trainer.events():
        pass
    return path


# -- the inference service ----------------------------------------------------------------------
def test_attention_of_an_opened_run_comes_from_its_checkpoint_off_the_gui_thread(window, qtbot,
                                                                                 tmp_path):
    from gptstudio.core.inspect import attention_maps
    from gptstudio.core.pipeline import load_trained_model

    path = _trained_run(tmp_path / "run")
    assert session(window).open_run(path)
    sources = inference(window).sources()
    assert [s.step for s in sources] == [4, 2, 0]  # newest first; the step-0 checkpoint too
    assert inference(window).source() == sources[0]
    with qtbot.waitSignal(inference(window).attention_ready, timeout=30_000) as got:
        inference(window).request_attention("The fox")
    maps = got.args[0]
    _, model, tok = load_trained_model(path)
    expected = attention_maps(model, tok, "The fox")
    assert maps.tokens == expected.tokens
    for ours, reference in zip(maps.weights, expected.weights):
        np.testing.assert_allclose(ours, reference, atol=1e-6)
    # Choosing another checkpoint gives that checkpoint's model.
    inference(window).choose(sources[-1])
    with qtbot.waitSignal(inference(window).result_ready, timeout=30_000) as result:
        request = inference(window).submit(lambda m, _t: m.state_dict()["lm_head.weight"].clone())
    assert result.args[0] == request
    model0 = build_model(Run.open(path).model_config())
    load_checkpoint(sources[-1].path, model0)
    assert torch.equal(result.args[1], model0.state_dict()["lm_head.weight"])


def test_a_tab_can_subscribe_to_snapshots_mid_run(window, qtbot):
    small_setup(window, steps=400, eval_interval=400)
    assert start_training(window)
    with wait_step(qtbot, window):
        pass
    # Subscribed after the run started: the next run's control is not the only way in.
    with qtbot.waitSignal(inference(window).attention_ready, timeout=60_000) as attention:
        training(window).watch_attention("The fox", 3)
    maps = attention.args[0]
    assert maps.step % 3 == 0 and maps.tokens == tuple("The fox")
    n_head = window.tab("setup").model_config().n_head
    assert all(w.shape == (n_head, 7, 7) for w in maps.weights)
    assert np.allclose(maps.weights[0].sum(axis=-1), 1.0, atol=1e-5)
    training(window).watch_attention("", 0)
    with qtbot.waitSignal(inference(window).weights_ready, timeout=30_000) as weights:
        assert training(window).request_weights()
    snapshot = weights.args[0]
    assert inference(window).latest_weights is snapshot
    # Work on the live model uses that copy, never the training thread's tensors.
    with qtbot.waitSignal(inference(window).result_ready, timeout=30_000) as result:
        inference(window).submit(lambda m, _t: m.state_dict()["lm_head.weight"].clone())
    assert torch.equal(result.args[1], torch.from_numpy(snapshot.state["lm_head.weight"]))
    training(window).stop()
    wait_for_idle(qtbot, window)


# -- runs that used to be stuck -----------------------------------------------------------------
def test_start_on_an_imported_run_trains_from_its_weights(window, qtbot, tmp_path):
    from gptstudio.core.hf_gpt2 import export_hf_gpt2
    from gptstudio.core.pipeline import import_gpt2_run

    _, tok = _fables_char()
    torch.manual_seed(5)
    gpt = build_model(from_preset("gpt2", n_layer=1, n_head=2, n_embd=16, block_size=32,
                                  vocab_size=tok.vocab_size))
    imported = import_gpt2_run(export_hf_gpt2(gpt, tmp_path / "hf"), tmp_path / "imported",
                               tokenizer=tok)
    assert session(window).open_run(imported.path)
    assert data(window).tokenizer.fingerprint() == tok.fingerprint()
    small_setup(window, steps=6, eval_interval=3)  # the fields of the run to come
    window.tab("setup").model_box.set_preset("gpt2")  # whatever the fields say...
    assert start_training(window)
    wait_for_idle(qtbot, window)
    new_run = Run.open(run_dir(window))
    assert new_run.path != imported.path
    assert new_run.data_config["init_from"]["run"] == str(imported.path)
    assert new_run.model_config() == imported.model_config()  # ...the weights decide the model
    first = build_model(new_run.model_config())
    load_checkpoint(new_run.checkpoints()[0].path, first)
    assert new_run.checkpoints()[0].step == 0
    for name, tensor in gpt.state_dict().items():  # step 0 is the imported model itself
        assert torch.equal(first.state_dict()[name], tensor), name
    assert len(history(window).steps) == 6


def test_a_run_killed_before_its_first_checkpoint_can_be_started_over(window, qtbot, tmp_path):
    corpus, tok = _fables_char()
    model_config = from_preset("nano", n_layer=1, n_head=2, n_embd=16, block_size=16,
                               vocab_size=tok.vocab_size)
    stuck = Run.create(tmp_path / "stuck", model_config, TrainConfig(max_steps=5),
                       {"corpus": "builtin:fables"}, tok)  # as a kill during tokenizing leaves
    assert session(window).open_run(stuck.path)
    start = window.findChild(QPushButton, "startButton")
    assert start.text() == "Start over" and "first checkpoint" in start.toolTip()
    small_setup(window, steps=6, eval_interval=3)
    assert start_training(window)
    wait_for_idle(qtbot, window)
    assert run_dir(window) == stuck.path  # in place, from step 0
    assert [c.step for c in Run.open(stuck.path).checkpoints()][-1] == 6
    assert history(window).steps.column("step")[0] == 1
    assert controls(window).start.text() == "Resume run"
    assert runs(window).opened is not None and runs(window).opened.can_resume


def test_the_token_preview_shows_loose_bytes_not_replacement_characters(qapp):
    from gptstudio.core.tokenizers import BPETokenizer
    from gptstudio.ui.tabs.setup.tokenizer_box import tokens_html

    tok = BPETokenizer.train("plain ascii text " * 50, 260)  # "é" stays two byte tokens
    html = tokens_html(tok, "café")
    assert "\ufffd" not in html and "⟨c3⟩" in html and "⟨a9⟩" in html


def test_opening_a_run_never_downloads_the_url_it_names(window, qtbot, tmp_path, monkeypatch):
    import gptstudio.core.net as net

    def no_fetch(*_args, **_kwargs):
        raise AssertionError("opening a run must not download")

    monkeypatch.setattr(net, "fetch", no_fetch)
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", "0")  # even when downloads are allowed
    corpus, tok = _fables_char()
    config = from_preset("nano", n_layer=1, n_head=2, n_embd=16, block_size=16,
                         vocab_size=tok.vocab_size)
    foreign = Run.create(tmp_path / "foreign", config, TrainConfig(max_steps=5),
                         {"corpus": "https://example.invalid/corpus.txt"}, tok)
    with qtbot.waitSignal(session(window).status_message, timeout=10_000) as said:
        assert session(window).open_run(foreign.path)
    assert "never starts a download" in said.args[0]
    assert data(window).corpus.name == "fables" and not data(window).is_loading_corpus


def test_an_opened_run_shows_its_settings_locked_until_new_run(window, qtbot, tmp_path):
    from PySide6.QtWidgets import QLabel

    path = _trained_run(tmp_path / "run")  # 1 layer, while the Setup tab shows the preset's 4
    assert session(window).open_run(path)
    model = window.tab("setup").model_box
    assert model.config().n_layer == 1 and not model.isEnabled()
    assert not window.tab("setup").tokenizer_box.isEnabled()
    assert not window.tab("setup").corpus_box.isEnabled()
    note = window.findChild(QLabel, "runSettingsNote")
    assert not note.isHidden() and "resumes" in note.text()
    assert window.tab("setup").training_box.isEnabled()  # more steps, another peak: allowed
    assert session(window).new_run()
    assert model.isEnabled() and window.tab("setup").corpus_box.isEnabled()
    assert note.isHidden()


def test_a_large_corpus_gets_its_characters_counted_off_the_gui_thread(window, qtbot, tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("the quick brown fox jumps over the lazy dog.\n" * 120_000, encoding="utf-8")
    with qtbot.waitSignal(data(window).corpus_changed, timeout=60_000):
        data(window).load_corpus(str(big))
    # The corpus is there; its character vocabulary comes from a worker, not the GUI thread.
    assert data(window).tokenizer is None and data(window).is_preparing_tokenizer
    assert "still being prepared" in " ".join(window.tab("setup").problems())
    qtbot.waitUntil(lambda: data(window).tokenizer is not None, timeout=60_000)
    assert data(window).tokenizer.vocab_size == len(set("the quick brown fox jumps over the "
                                                        "lazy dog.\n")) + 1  # + <|endoftext|>
