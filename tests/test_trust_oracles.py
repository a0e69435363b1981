"""`sample` and `eval` checked against oracles computed here by hand from the run's weights:
greedy decoding as a plain argmax loop over full forwards (no KV cache), and the loss as the
cross-entropy of one forward over a text exactly one window long."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gptstudio.cli import main
from gptstudio.core.pipeline import load_trained_model

SMALL = ["--preset", "nano", "--set", "n_layer=1", "--set", "n_embd=16", "--set", "n_head=2",
         "--set", "block_size=16", "--set", "batch_size=2", "--set", "eval_iters=1",
         "--set", "eval_interval=5", "--set", "checkpoint_interval=5", "--set", "sample_interval=0",
         "--set", "warmup_steps=1"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("oracle")
    corpus = folder / "corpus.txt"
    corpus.write_text("the cat sat on the mat. the dog sat on the log.\n" * 40, encoding="utf-8")
    assert main(["train", "--corpus", str(corpus), "--tokenizer", "char", *SMALL,
                 "--run-dir", str(folder / "run"), "--quiet", "--max-steps", "10"]) == 0
    return folder / "run"


def test_greedy_sample_is_the_argmax_of_full_forwards(run_dir: Path, capsys):
    _, model, tok = load_trained_model(run_dir)
    ids = tok.encode("the ")
    with torch.no_grad():
        for _ in range(12):  # 4 + 12 = 16 tokens: within one block (no cropping)
            logits = model(torch.tensor([ids[-16:]])).logits[0, -1]
            ids.append(int(logits.argmax()))
    expected = tok.decode(ids[len(tok.encode("the ")):])
    capsys.readouterr()
    assert main(["sample", "--run", str(run_dir), "--prompt", "the ", "--max-new-tokens", "12",
                 "--temperature", "0"]) == 0
    assert capsys.readouterr().out == expected + "\n"  # only the continuation, then a newline


@pytest.mark.parametrize("how", [["--max-batches", "3"], ["--stride", "16"]])
def test_eval_on_one_window_is_its_cross_entropy(run_dir: Path, tmp_path: Path, capsys, how):
    text = "the cat sat on th"  # 17 characters: exactly one window of 16 inputs and targets
    window = tmp_path / "window.txt"
    window.write_text(text, encoding="utf-8")
    _, model, tok = load_trained_model(run_dir)
    ids = torch.tensor(tok.encode(text))
    assert len(ids) == 17
    with torch.no_grad():
        logits = model(ids[None, :-1]).logits[0]
    loss = float(F.cross_entropy(logits, ids[1:]))
    capsys.readouterr()
    assert main(["eval", "--run", str(run_dir), "--corpus", str(window), "--json", *how]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["loss"] == pytest.approx(loss, rel=1e-5)
    assert figures["perplexity"] == pytest.approx(math.exp(loss), rel=1e-5)
    # One byte per character and token here: bits per byte is the loss in bits.
    assert figures["bits_per_byte"] == pytest.approx(loss / math.log(2), rel=1e-5)
