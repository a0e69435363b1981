"""Evaluation: mean loss over seeded batches, perplexity, bits per byte, and no side effects."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gptstudio.core.data import RandomBatcher
from gptstudio.core.errors import DatasetError
from gptstudio.core.model import build_model, from_preset
from gptstudio.core.tokenizers import CharTokenizer
from gptstudio.core.train import SplitEvaluator, estimate_loss
from gptstudio.core.train.evaluation import count_bytes, token_byte_lengths

TEXT = "café au lait, s'il vous plaît; merci beaucoup. " * 40


@pytest.fixture(scope="module")
def setup():
    tok = CharTokenizer.from_text(TEXT)
    ids = np.array(tok.encode(TEXT), dtype=np.uint16)
    torch.manual_seed(0)
    model = build_model(from_preset("nano", vocab_size=tok.vocab_size, block_size=8,
                                    dropout=0.5))
    return tok, ids, model


def test_estimate_loss_is_the_mean_cross_entropy_of_the_seeded_batches(setup):
    tok, ids, model = setup
    got = estimate_loss(model, ids, block_size=8, batch_size=3, iters=4, seed=5)
    batcher = RandomBatcher(ids, 8, 3, seed=5)
    model.eval()
    with torch.no_grad():
        losses = []
        for _ in range(4):
            x, y = batcher.next_batch()
            logits = model(x).logits
            losses.append(F.cross_entropy(logits.reshape(-1, logits.size(-1)), y.reshape(-1)))
    model.train()
    assert got == pytest.approx(float(torch.stack(losses).mean()), rel=1e-6)


def test_evaluation_is_repeatable_and_leaves_mode_and_randomness_alone(setup):
    tok, ids, model = setup
    model.train()
    torch.manual_seed(42)
    expected_next = torch.rand(3)
    torch.manual_seed(42)
    a = estimate_loss(model, ids, block_size=8, batch_size=2, iters=3, seed=1)
    b = estimate_loss(model, ids, block_size=8, batch_size=2, iters=3, seed=1)
    assert a == b  # dropout is off in evaluation, and the batches are the same
    assert model.training
    assert torch.equal(torch.rand(3), expected_next)  # the global RNG did not move


def test_bits_per_byte_count_the_utf8_bytes_of_each_token(setup):
    tok, ids, model = setup
    lengths = token_byte_lengths(tok)
    assert lengths[tok.encode("é")[0]] == 2 and lengths[tok.encode("a")[0]] == 1
    assert count_bytes(ids, lengths) == len(TEXT.encode("utf-8"))

    evaluator = SplitEvaluator(tok, {"train": ids[:1500], "val": ids[1500:]}, block_size=8,
                               batch_size=2, iters=2, seed=0)
    results = evaluator(model)
    val = results["val"]
    n_bytes = len(tok.decode(ids[1500:].tolist()).encode("utf-8"))
    assert val.perplexity == pytest.approx(math.exp(val.loss))
    assert val.bits_per_byte == pytest.approx(val.loss * len(ids[1500:]) / (n_bytes * math.log(2)))
    assert val.bits_per_byte < val.loss / math.log(2)  # some characters are two bytes


def test_a_split_too_short_for_one_window_is_refused_up_front(setup):
    tok, ids, model = setup
    with pytest.raises(DatasetError, match="val split has 4 tokens"):
        SplitEvaluator(tok, {"train": ids, "val": ids[:4]}, block_size=8, batch_size=2, iters=1,
                       seed=0)
