"""The shared set-up of new and resumed runs (used by the CLI and the app)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gptstudio.core.corpora import load_corpus
from gptstudio.core.errors import CheckpointError, ConfigError, DatasetError
from gptstudio.core.model import from_preset
from gptstudio.core.pipeline import (
    load_trained_model,
    prepare_new_training,
    prepare_resumed_training,
)
from gptstudio.core.tokenizers import CharTokenizer
from gptstudio.core.train import StepEvent, TrainConfig

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
    assert not (tmp_path / "a" / "run.json").exists()


def test_load_trained_model_needs_a_checkpoint(tmp_path: Path, corpus):
    tok = CharTokenizer.from_text(corpus.text)
    prepare_new_training(tmp_path / "a", corpus, tok, small_model(tok), CONFIG)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_trained_model(tmp_path / "a")
