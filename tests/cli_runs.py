"""A tiny character-level run made through the CLI, for tests that need a real run folder."""

from __future__ import annotations

from pathlib import Path

from gptstudio.cli import main

SMALL = ["--preset", "nano", "--set", "n_layer=1", "--set", "n_embd=16", "--set", "n_head=2",
         "--set", "block_size=16", "--set", "batch_size=2", "--set", "eval_iters=1",
         "--set", "eval_interval=2", "--set", "checkpoint_interval=2", "--set", "sample_interval=0",
         "--set", "warmup_steps=1"]


def small_cli_run(tmp_path: Path, *, steps: int) -> Path:
    """`gptstudio train` of a tiny GPT on a repeated sentence for `steps` steps: the run folder."""
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat. the dog sat on the log.\n" * 40, encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", "--corpus", str(corpus), "--tokenizer", "char", *SMALL,
                 "--run-dir", str(run), "--quiet", "--max-steps", str(steps)]) == 0
    return run
