"""The full-pass evaluation over every sliding window (`full_pass_loss`, `evaluate_run(stride=)`,
`gptstudio eval --stride`): each target token scored once, against a plain recomputation."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gptstudio.cli import main
from gptstudio.core.corpora import load_corpus
from gptstudio.core.errors import Cancelled
from gptstudio.core.model import GPTConfig, build_model, from_preset
from gptstudio.core.pipeline import evaluate_run, prepare_new_training
from gptstudio.core.tokenizers import CharTokenizer
from gptstudio.core.train import StepEvent, TrainConfig
from gptstudio.core.train.evaluation import (
    FullPassProgress, full_pass_loss, token_byte_lengths,
)
from tests.tiny_runs import one_thread  # noqa: F401 - fixture

TEXT = "the quick brown fox jumps over the lazy dog; naïve café. " * 12


@pytest.fixture(scope="module")
def setup():
    tok = CharTokenizer.from_text(TEXT)
    ids = np.array(tok.encode(TEXT), dtype=np.int64)
    torch.manual_seed(0)
    model = build_model(GPTConfig(tok.vocab_size, block_size=16, n_layer=1, n_head=2,
                                  n_embd=16))
    return tok, ids, model.eval()


def per_token_losses(model, ids, block, stride):
    """{position of the target in the row: its loss}, each scored by the first window that
    predicts it with the most context the stride allows (the plain definition)."""
    losses = {}
    n_windows = (len(ids) - block - 1) // stride + 1
    with torch.no_grad():
        for w in range(n_windows):
            start = w * stride
            x = torch.tensor(ids[start:start + block])[None]
            y = torch.tensor(ids[start + 1:start + block + 1])
            nll = F.cross_entropy(model(x).logits[0], y, reduction="none")
            for t in range(block):
                position = start + 1 + t
                if position not in losses:
                    losses[position] = float(nll[t])
    return losses


@pytest.mark.parametrize("stride", [16, 8, 5, 1, 20])
def test_each_target_is_scored_once_with_the_most_context(setup, stride):
    tok, ids, model = setup
    result = full_pass_loss(model, ids, block_size=16, stride=stride, batch_size=3,
                            byte_lengths=token_byte_lengths(tok))
    reference = per_token_losses(model, ids, 16, stride)
    assert result.n_scored == len(reference)
    assert result.loss == pytest.approx(np.mean(list(reference.values())), rel=1e-5)
    scored_bytes = sum(len(tok.token_bytes(int(ids[p]))) for p in reference)
    assert result.n_bytes == scored_bytes
    assert result.bits_per_byte == pytest.approx(
        result.loss * result.n_scored / (scored_bytes * math.log(2)))
    assert result.perplexity == pytest.approx(math.exp(result.loss))
    if stride <= 16:  # overlapping or touching windows leave no gap
        assert result.n_scored == 16 + (result.n_windows - 1) * stride


def test_progress_cancel_and_the_models_mode(setup):
    tok, ids, model = setup
    model.train()
    seen: list[FullPassProgress] = []
    full_pass_loss(model, ids, block_size=16, stride=16, batch_size=4, progress=seen.append)
    assert model.training  # put back as it was
    model.eval()
    assert seen[-1].done_windows == seen[-1].total_windows == len(ids[:-1]) // 16
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled, match="cancelled after 0"):
        full_pass_loss(model, ids, block_size=16, cancel=cancel)


def test_evaluate_run_and_the_cli_take_a_stride(tmp_path: Path, capsys):
    corpus_file = tmp_path / "c.txt"
    corpus_file.write_text("a small corpus for a small model.\n" * 60, encoding="utf-8")
    corpus = load_corpus(corpus_file)
    tok = CharTokenizer.from_text(corpus.text)
    model_config = from_preset("nano", n_layer=1, n_embd=16, n_head=2, block_size=16,
                               vocab_size=tok.vocab_size)
    config = TrainConfig(max_steps=2, batch_size=2, eval_interval=0, eval_iters=1,
                         sample_interval=0, checkpoint_interval=2, warmup_steps=1)
    prepared = prepare_new_training(tmp_path / "run", corpus, tok, model_config, config,
                                    corpus_spec=str(corpus_file))
    assert [e for e in prepared.trainer.events() if isinstance(e, StepEvent)]
    result = evaluate_run(tmp_path / "run", stride=4)
    assert result.split == "val" and result.stride == 4
    assert result.n_scored == 16 + ((result.n_tokens - 17) // 4) * 4
    sampled = evaluate_run(tmp_path / "run", max_batches=2)
    assert sampled.stride is None and sampled.n_scored is None
    capsys.readouterr()
    assert main(["eval", "--run", str(tmp_path / "run"), "--stride", "4", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["stride"] == 4 and printed["scored"] == result.n_scored
    assert printed["loss"] == pytest.approx(result.loss)
    assert main(["eval", "--run", str(tmp_path / "run"), "--stride", "0"]) == 2
    assert "stride" in capsys.readouterr().err
