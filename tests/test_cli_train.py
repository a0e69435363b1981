"""`gptstudio train|sample|eval|export|import-gpt2` end to end, as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gptstudio.cli import main
from gptstudio.core.train import Run, read_metrics
from gptstudio.core.train.events import StepEvent

# A model small enough that a few steps take well under a second.
SMALL = ["--preset", "nano", "--set", "n_layer=1", "--set", "n_embd=32", "--set", "n_head=2",
         "--set", "block_size=32", "--set", "batch_size=4", "--set", "eval_iters=2",
         "--set", "eval_interval=3", "--set", "checkpoint_interval=3", "--set", "sample_interval=0",
         "--set", "warmup_steps=2"]


def child_env() -> dict:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("the cat sat on the mat. the dog sat on the log.\n" * 80, encoding="utf-8")
    return path


def train(run_dir: Path, corpus: Path, *extra: str) -> int:
    return main(["train", "--corpus", str(corpus), "--tokenizer", "char", *SMALL,
                 "--run-dir", str(run_dir), "--quiet", *extra])


def losses(run_dir: Path) -> list[float]:
    return [e.loss for e in read_metrics(run_dir / "metrics.jsonl") if isinstance(e, StepEvent)]


def test_train_then_resume_continues_the_same_run(tmp_path: Path, corpus_file: Path):
    # The schedule's length is fixed (lr_decay_steps), so a run extended from 6 to 9 steps
    # follows the same learning rates as one planned for 9 from the start.
    run_dir = tmp_path / "run"
    assert train(run_dir, corpus_file, "--max-steps", "6", "--set", "lr_decay_steps=9") == 0
    run = Run.open(run_dir)
    assert run.latest_checkpoint().step == 6
    assert len(losses(run_dir)) == 6
    # Resume up to 9: three more steps, appended to the same metrics.
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--max-steps", "9",
                 "--quiet"]) == 0
    assert Run.open(run_dir).latest_checkpoint().step == 9
    assert len(losses(run_dir)) == 9
    # The resumed steps equal an uninterrupted run's steps, bit for bit.
    straight = tmp_path / "straight"
    assert train(straight, corpus_file, "--max-steps", "9", "--set", "lr_decay_steps=9") == 0
    assert losses(straight) == losses(run_dir)


def test_sample_eval_export_import(tmp_path: Path, corpus_file: Path, capsys):
    run_dir = tmp_path / "run"
    assert train(run_dir, corpus_file, "--max-steps", "3") == 0
    capsys.readouterr()
    # Greedy sampling is deterministic and prints only the text.
    args = ["sample", "--run", str(run_dir), "--prompt", "the ", "--max-new-tokens", "12",
            "--temperature", "0"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first and len(first.rstrip("\n")) > 0

    assert main(["eval", "--run", str(run_dir), "--json", "--max-batches", "2"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["split"] == "val" and figures["loss"] > 0
    assert figures["perplexity"] == pytest.approx(float(torch.tensor(figures["loss"]).exp()))

    out = tmp_path / "hf"
    assert main(["export", "--run", str(run_dir), "--format", "hf", "--out", str(out)]) == 0
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    capsys.readouterr()
    # The exported weights come back through import-gpt2 into a new run with the same logits.
    tok = Run.open(run_dir).tokenizer_path
    imported = tmp_path / "imported"
    assert main(["import-gpt2", str(out / "model.safetensors"), "--run-dir", str(imported),
                 "--tokenizer", str(tok)]) == 0
    assert main(["sample", "--run", str(imported), "--prompt", "the ", "--max-new-tokens", "12",
                 "--temperature", "0"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == first.splitlines()[-1]
    # An imported run has no corpus of its own: eval asks for one, then works with it.
    assert main(["eval", "--run", str(imported)]) == 2
    assert "--corpus" in capsys.readouterr().err
    assert main(["eval", "--run", str(imported), "--corpus", str(corpus_file), "--json",
                 "--max-batches", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["split"] == "corpus"


@pytest.mark.parametrize("extra, needle", [
    (["--set", "n_head=3"], "n_head"),
    (["--set", "no_such_setting=1"], "no_such_setting"),
    (["--set", "learning_rate=-1"], "learning_rate"),
    (["--preset", "enormous"], "enormous"),
])
def test_impossible_settings_are_one_line_errors(tmp_path: Path, corpus_file: Path, extra,
                                                 needle):
    result = subprocess.run(
        [sys.executable, "-m", "gptstudio", "train", "--corpus", str(corpus_file), *SMALL,
         "--max-steps", "2", "--run-dir", str(tmp_path / "run"), *extra],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in result.stderr
    assert not (tmp_path / "run" / "run.json").exists()


def test_existing_run_needs_resume_and_empty_corpus_is_refused(tmp_path: Path,
                                                               corpus_file: Path, capsys):
    run_dir = tmp_path / "run"
    assert train(run_dir, corpus_file, "--max-steps", "3") == 0
    assert train(run_dir, corpus_file, "--max-steps", "3") == 2
    assert "--resume" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    assert train(tmp_path / "run2", empty, "--max-steps", "3") == 2
    assert "empty.txt" in capsys.readouterr().err
    assert main(["sample", "--run", str(tmp_path / "nothing")]) == 2


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path: Path, corpus_file: Path):
    run_dir = tmp_path / "run"
    args = [sys.executable, "-m", "gptstudio", "train", "--corpus", str(corpus_file), *SMALL,
            "--set", "checkpoint_interval=0", "--max-steps", "100000", "--run-dir", str(run_dir)]
    child = subprocess.Popen(args, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        deadline = time.monotonic() + 120
        # Wait (by polling the run's own metrics file) until training has taken a few steps.
        while len(losses(run_dir)) < 3:
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0, err
    assert "Traceback" not in err
    latest = Run.open(run_dir).latest_checkpoint()
    assert latest is not None and latest.step >= 3


def test_the_lstm_baseline_trains_samples_and_refuses_gpt2_export(tmp_path: Path,
                                                                   corpus_file: Path, capsys):
    run_dir = tmp_path / "lstm"
    assert main(["train", "--arch", "lstm", "--corpus", str(corpus_file), "--max-steps", "3",
                 "--set", "eval_iters=1", "--set", "eval_interval=3", "--set", "sample_interval=0",
                 "--set", "batch_size=2", "--run-dir", str(run_dir), "--quiet"]) == 0
    assert Run.open(run_dir).model_config_dict["arch"] == "lstm"
    assert main(["sample", "--run", str(run_dir), "--max-new-tokens", "5", "--seed", "1"]) == 0
    assert main(["export", "--run", str(run_dir), "--out", str(tmp_path / "x")]) == 2
    assert "LSTM" in capsys.readouterr().err


def test_a_new_run_can_start_from_another_runs_weights(tmp_path: Path, corpus_file: Path,
                                                       capsys):
    from gptstudio.core.pipeline import load_trained_model

    # An imported model (here: a trained run exported to GPT-2's layout and imported back).
    first = tmp_path / "first"
    assert train(first, corpus_file, "--max-steps", "3") == 0
    assert main(["export", "--run", str(first), "--format", "hf", "--out",
                 str(tmp_path / "hf")]) == 0
    imported = tmp_path / "imported"
    assert main(["import-gpt2", str(tmp_path / "hf"), "--run-dir", str(imported),
                 "--tokenizer", str(Run.open(first).tokenizer_path)]) == 0
    capsys.readouterr()
    # It was never trained: resuming it says what to do instead.
    assert main(["train", "--run-dir", str(imported), "--resume", "--quiet"]) == 2
    assert "--init-from" in capsys.readouterr().err

    tuned = tmp_path / "tuned"
    settings = ["--set", "learning_rate=1e-9", "--set", "min_lr=1e-10", "--set",
                "weight_decay=0", "--set", "batch_size=4", "--set", "eval_iters=2", "--set",
                "sample_interval=0", "--set", "warmup_steps=1", "--set", "dropout=0.1"]
    assert main(["train", "--init-from", str(imported), "--corpus", str(corpus_file),
                 "--run-dir", str(tuned), "--max-steps", "2", "--quiet", *settings]) == 0
    run = Run.open(tuned)
    assert run.data_config["init_from"]["run"] == str(imported.resolve())
    assert run.data_config["init_from"]["step"] == 0
    assert run.model_config().dropout == 0.1
    # With a learning rate of 1e-9 the weights barely move: they are the imported ones (a fresh
    # initialisation would differ by ~0.02 everywhere).
    _, start, _ = load_trained_model(imported)
    _, after, _ = load_trained_model(tuned)
    for (name, a), b in zip(start.state_dict().items(), after.state_dict().values()):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=0, msg=name)
    # The new run is an ordinary run: it resumes as usual.
    assert main(["train", "--run-dir", str(tuned), "--resume", "--max-steps", "3",
                 "--quiet"]) == 0
    assert Run.open(tuned).latest_checkpoint().step == 3


@pytest.mark.parametrize("extra, needle", [
    (["--preset", "tiny"], "drop --preset"),
    (["--tokenizer", "char"], "drop --tokenizer"),
    (["--set", "n_layer=3"], "n_layer cannot change"),
    (["--resume"], "use one of them"),
])
def test_init_from_refuses_what_would_not_fit_its_weights(tmp_path: Path, corpus_file: Path,
                                                          capsys, extra, needle):
    source = tmp_path / "source"
    assert train(source, corpus_file, "--max-steps", "3") == 0
    capsys.readouterr()
    assert main(["train", "--init-from", str(source), "--corpus", str(corpus_file),
                 "--run-dir", str(tmp_path / "new"), "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "new" / "run.json").exists()
    assert main(["train", "--init-from", str(tmp_path / "nowhere"), "--corpus",
                 str(corpus_file), "--run-dir", str(tmp_path / "new"), "--quiet"]) == 2
