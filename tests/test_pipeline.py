"""The shared set-up of new and resumed runs (used by the CLI and the app)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from gptstudio.core.corpora import load_corpus
from gptstudio.core.errors import CheckpointError, ConfigError, DatasetError
from gptstudio.core.model import from_preset
from gptstudio.core.pipeline import (
    RunEvaluation,
    evaluate_run,
    import_gpt2_run,
    load_trained_model,
    prepare_new_training,
    prepare_resumed_training,
)
from gptstudio.core.tokenizers import CharTokenizer
from gptstudio.core.train import Run, StepEvent, TrainConfig

CONFIG = TrainConfig(max_steps=4, batch_size=2, eval_interval=0, eval_iters=1,
                     sample_interval=0, checkpoint_interval=2, warmup_steps=1)


def small_model(tokenizer):
    return from_preset("nano", n_layer=1, n_embd=16, n_head=2, block_size=16,
                       vocab_size=tokenizer.vocab_size)


@pytest.fixture
def corpus(tmp_path: Path):
    path = tmp_path / "c.txt"
    path.write_text("a small corpus for a small model.\n" * 40, encoding="utf-8")
    return load_corpus(path)


def run_all(prepared) -> list[float]:
    return [e.loss for e in prepared.trainer.events() if isinstance(e, StepEvent)]


def test_same_choices_give_the_same_run(tmp_path: Path, corpus):
    tok = CharTokenizer.from_text(corpus.text)
    first = prepare_new_training(tmp_path / "a", corpus, tok, small_model(tok), CONFIG)
    second = prepare_new_training(tmp_path / "b", corpus, tok, small_model(tok), CONFIG)
    assert run_all(first) == run_all(second)  # weights are initialised from the run's seed


def test_resume_is_refused_on_changed_text_or_when_already_done(tmp_path: Path, corpus):
    tok = CharTokenizer.from_text(corpus.text)
    run_all(prepare_new_training(tmp_path / "a", corpus, tok, small_model(tok), CONFIG))
    with pytest.raises(ConfigError, match="already reached step 4"):
        prepare_resumed_training(tmp_path / "a")
    assert prepare_resumed_training(tmp_path / "a", max_steps=6).start_step == 4
    Path(corpus.paths[0]).write_text("other text entirely.\n" * 40, encoding="utf-8")
    with pytest.raises(CheckpointError, match="changed"):
        prepare_resumed_training(tmp_path / "a", max_steps=8)


def test_a_block_longer_than_the_validation_split_is_refused_before_the_run_exists(
        tmp_path: Path, corpus):
    tok = CharTokenizer.from_text(corpus.text)
    huge = small_model(tok).replace(block_size=1024)
    with pytest.raises(DatasetError, match="block_size"):
        prepare_new_training(tmp_path / "a", corpus, tok, huge, CONFIG)
    assert not Run.exists(tmp_path / "a")


def test_load_trained_model_needs_a_checkpoint(tmp_path: Path, corpus):
    tok = CharTokenizer.from_text(corpus.text)
    prepare_new_training(tmp_path / "a", corpus, tok, small_model(tok), CONFIG)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_trained_model(tmp_path / "a")


def test_a_run_without_a_checkpoint_cannot_resume_but_can_restart(tmp_path: Path, corpus):
    tok = CharTokenizer.from_text(corpus.text)
    prepare_new_training(tmp_path / "a", corpus, tok, small_model(tok), CONFIG)  # never ran
    with pytest.raises(CheckpointError, match="no complete checkpoint.*start it over with "
                                              "--restart"):
        prepare_resumed_training(tmp_path / "a", max_steps=8)
    with pytest.raises(CheckpointError, match="continue it with --resume, or start it over "
                                              "with --restart"):
        prepare_new_training(tmp_path / "a", corpus, tok, small_model(tok), CONFIG)
    restarted = prepare_new_training(tmp_path / "a", corpus, tok, small_model(tok), CONFIG,
                                     restart=True)
    assert len(run_all(restarted)) == CONFIG.max_steps
    assert Run.open(tmp_path / "a").latest_checkpoint().step == CONFIG.max_steps


def test_restart_replaces_a_trained_run_only_once_the_new_one_can_be_made(tmp_path: Path,
                                                                          corpus):
    tok = CharTokenizer.from_text(corpus.text)
    run_all(prepare_new_training(tmp_path / "a", corpus, tok, small_model(tok), CONFIG))
    # An impossible new run leaves the old one as it was.
    huge = small_model(tok).replace(block_size=1024)
    with pytest.raises(DatasetError):
        prepare_new_training(tmp_path / "a", corpus, tok, huge, CONFIG, restart=True)
    assert Run.open(tmp_path / "a").latest_checkpoint().step == CONFIG.max_steps
    with pytest.raises(ConfigError, match="its own weights"):
        prepare_new_training(tmp_path / "a", corpus, tok, small_model(tok), CONFIG,
                             init_from=tmp_path / "a", restart=True)
    # A possible one replaces it: its steps only, from step 0.
    shorter = CONFIG.replace(max_steps=2)
    prepared = prepare_new_training(tmp_path / "a", corpus, tok, small_model(tok), shorter,
                                    restart=True)
    assert prepared.start_step == 0 and Run.open(tmp_path / "a").latest_checkpoint() is None
    run_all(prepared)
    steps = [e.step for e in Run.open(tmp_path / "a").read_metrics() if isinstance(e, StepEvent)]
    assert steps == [1, 2]


def test_evaluate_run_measures_the_validation_split_or_a_given_corpus(tmp_path: Path, corpus):
    tok = CharTokenizer.from_text(corpus.text)
    run_all(prepare_new_training(tmp_path / "a", corpus, tok, small_model(tok), CONFIG,
                                 corpus_spec=str(corpus.paths[0])))
    result = evaluate_run(tmp_path / "a", max_batches=2)
    assert isinstance(result, RunEvaluation) and result.split == "val"
    assert result.perplexity == pytest.approx(math.exp(result.loss))
    assert result.bits_per_byte > 0 and 0 < result.n_tokens < len(corpus.text)
    assert evaluate_run(tmp_path / "a", max_batches=2) == result  # the same batches each time
    on_corpus = evaluate_run(tmp_path / "a", corpus=corpus, max_batches=2)
    assert on_corpus.split == "corpus" and on_corpus.n_tokens == len(corpus.text)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.loss = 0.0


def test_import_gpt2_run_makes_an_untrained_run_of_exported_weights(tmp_path: Path, corpus):
    from gptstudio.core.hf_gpt2 import export_hf_gpt2

    tok = CharTokenizer.from_text(corpus.text)
    run_all(prepare_new_training(tmp_path / "a", corpus, tok, small_model(tok), CONFIG))
    _, model, _ = load_trained_model(tmp_path / "a")
    export_hf_gpt2(model, tmp_path / "hf")
    run = import_gpt2_run(tmp_path / "hf", tmp_path / "imported", tokenizer=tok)
    assert run.latest_checkpoint().step == 0 and run.data_config["corpus"] is None
    assert run.data_config["imported_from"] == str((tmp_path / "hf").resolve())
    _, imported, _ = load_trained_model(run.path)
    x = torch.tensor([tok.encode("a small corpus")])
    torch.testing.assert_close(imported(x).logits, model(x).logits)
    with pytest.raises(CheckpointError, match="imported weights"):
        prepare_resumed_training(run.path)
    # A tokenizer of another vocabulary is refused before any run exists.
    other = CharTokenizer.from_text("xyz")
    with pytest.raises(ConfigError, match="vocabulary"):
        import_gpt2_run(tmp_path / "hf", tmp_path / "wrong", tokenizer=other)
    assert not Run.exists(tmp_path / "wrong")
