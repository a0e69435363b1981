"""`train --resume` continues the run as it was made: another preset, corpus, tokenizer,
architecture or model setting is refused with the difference named; training settings that may
change are taken and recorded. Also `--set`'s own traps (vocab_size, text settings)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gptstudio.cli import main
from gptstudio.core.train import Run

SMALL = ["--preset", "nano", "--set", "n_layer=1", "--set", "n_embd=16", "--set", "n_head=2",
         "--set", "block_size=16", "--set", "batch_size=2", "--set", "eval_iters=1",
         "--set", "eval_interval=2", "--set", "checkpoint_interval=2", "--set", "sample_interval=0",
         "--set", "warmup_steps=1"]
TEXT = "the cat sat on the mat. the dog sat on the log.\n" * 40


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def new_run(run: Path, corpus: Path, tokenizer: str = "char") -> None:
    assert main(["train", "--corpus", str(corpus), "--tokenizer", tokenizer, *SMALL,
                 "--run-dir", str(run), "--quiet", "--max-steps", "2"]) == 0


def resume(run: Path, *extra: str, steps: int = 4) -> int:
    return main(["train", "--run-dir", str(run), "--resume", "--max-steps", str(steps),
                 "--quiet", *extra])


def last_step(run: Path) -> int:
    return Run.open(run).latest_checkpoint().step


@pytest.mark.parametrize("extra, named", [
    (["--preset", "tiny"], "n_layer=4 (from --preset tiny; the run's is 1)"),
    (["--arch", "lstm"], "--arch lstm (the run is gpt)"),
    (["--set", "n_layer=3"], "n_layer=3 (the run's is 1)"),
    (["--set", "batch_size=8"], "batch_size=8 (the run's is 2)"),
    (["--tokenizer", "bpe:300"], "--tokenizer bpe:300 (the run's is Characters"),
    (["--corpus", "OTHER"], "--corpus OTHER (other text than the run's corpus corpus)"),
])
def test_a_resume_naming_another_set_up_is_refused_with_the_difference(
        tmp_path: Path, corpus: Path, capsys, extra, named):
    run = tmp_path / "run"
    new_run(run, corpus)
    other = tmp_path / "other.txt"
    other.write_text(TEXT.upper(), encoding="utf-8")
    extra = [str(other) if a == "OTHER" else a for a in extra]
    capsys.readouterr()
    assert resume(run, *extra) == 2
    err = capsys.readouterr().err
    assert named.replace("OTHER", str(other)) in err and "--resume continues the run" in err
    assert last_step(run) == 2  # nothing was trained on the old set-up


def test_repeating_the_runs_own_choices_resumes(tmp_path: Path, corpus: Path, monkeypatch):
    run = tmp_path / "run"
    new_run(run, corpus)
    # The whole first command again, the corpus by a relative path from its own folder.
    monkeypatch.chdir(tmp_path)
    assert resume(run, "--corpus", "corpus.txt", "--tokenizer", "char", "--arch", "gpt",
                  *SMALL) == 0
    assert last_step(run) == 4


def test_a_moved_corpus_can_be_named_on_resume(tmp_path: Path, corpus: Path):
    run = tmp_path / "run"
    new_run(run, corpus)
    moved = corpus.rename(tmp_path / "moved.txt")
    assert resume(run) == 1  # the run's corpus is gone: a runtime failure
    assert resume(run, "--corpus", str(moved)) == 0  # the same text, found elsewhere
    assert last_step(run) == 4


def test_settings_that_may_change_are_taken_and_recorded(tmp_path: Path, corpus: Path):
    run = tmp_path / "run"
    new_run(run, corpus)
    assert resume(run, "--set", "learning_rate=0.002", "--set", "eval_interval=3",
                  "--set", "max_steps=5", steps=5) == 0
    saved = json.loads((run / "train_config.json").read_text(encoding="utf-8"))
    assert (saved["learning_rate"], saved["eval_interval"], saved["max_steps"]) == (0.002, 3, 5)
    assert saved["batch_size"] == 2 and last_step(run) == 5


def test_a_bpe_run_accepts_its_own_spec_even_when_training_stopped_early(tmp_path: Path,
                                                                         corpus: Path, capsys):
    run = tmp_path / "run"
    new_run(run, corpus, "bpe:400")
    vocab = Run.open(run).load_tokenizer().vocab_size
    assert vocab < 400  # the corpus had no more pairs to merge
    assert resume(run, "--tokenizer", "bpe:400") == 0  # the very same tokenizer
    assert resume(run, "--tokenizer", f"bpe:{vocab - 5}", steps=6) == 2
    assert f"(the run's is BPE {vocab}" in capsys.readouterr().err
    assert resume(run, "--tokenizer", "bpe:400:gpt4", steps=6) == 2  # another pattern


def test_vocab_size_cannot_be_set(tmp_path: Path, corpus: Path, capsys):
    assert main(["train", "--corpus", str(corpus), *SMALL, "--set", "vocab_size=10",
                 "--run-dir", str(tmp_path / "run"), "--quiet"]) == 2
    assert "tokenizer's vocabulary size" in capsys.readouterr().err
    assert not Run.exists(tmp_path / "run")


def test_a_text_setting_takes_digits_as_text(tmp_path: Path, corpus: Path):
    run = tmp_path / "run"
    assert main(["train", "--corpus", str(corpus), *SMALL, "--set", "sample_prompt=1984",
                 "--run-dir", str(run), "--quiet", "--max-steps", "1"]) == 0
    assert Run.open(run).train_config.sample_prompt == "1984"
