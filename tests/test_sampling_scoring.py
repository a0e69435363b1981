"""Per-token loss of a text (`core.scoring`), against a plain recomputation with cross-entropy."""

from __future__ import annotations

import math
import threading

import pytest
import torch
import torch.nn.functional as F

from gptstudio.core.errors import Cancelled, ConfigError, TokenizerError
from gptstudio.core.scoring import score_text
from gptstudio.core.tokenizers import CharTokenizer
from tests.test_sampling import EOT, TOK, tiny_gpt


def plain_losses(model, ids: list[int]) -> list[float]:
    """-log p(ids[j] | ids[:j]) for j >= 1, with the whole prefix (no window)."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0]
    return F.cross_entropy(logits[:-1], torch.tensor(ids[1:]), reduction="none").tolist()


def test_short_text_matches_cross_entropy_after_end_of_text():
    model = tiny_gpt(block_size=32)
    text = "Hello there"
    score = score_text(model, TOK, text)
    expected = plain_losses(model, [EOT] + TOK.encode(text))
    assert [t.loss for t in score.tokens] == pytest.approx(expected, rel=1e-5)
    assert score.n_scored == len(text)
    assert score.mean_loss == pytest.approx(sum(expected) / len(expected), rel=1e-5)
    assert score.perplexity == pytest.approx(math.exp(score.mean_loss))
    assert "".join(t.piece for t in score.tokens) == text
    assert all(t.prob == pytest.approx(math.exp(-t.loss), rel=1e-5) for t in score.tokens)
    first = score.tokens[0]
    with torch.no_grad():
        best = int(model(torch.tensor([[EOT]])).logits[0, -1].argmax())
    assert first.best_id == best
    assert score.bits_per_byte == pytest.approx(sum(expected) / (len(text) * math.log(2)))


def test_long_text_is_scored_once_per_token_with_half_a_block_of_context():
    model = tiny_gpt(block_size=8)
    text = "abcdefghijklmnopqrstuvwxyz"
    score = score_text(model, TOK, text)
    seq = [EOT] + TOK.encode(text)
    assert len(score.tokens) == len(text) and score.n_scored == len(text)
    # Recompute each token's loss from the window the rule prescribes: context of the first
    # window (positions 1..7) is everything before; afterwards, windows overlap by 4.
    expected = {}
    start, scored_to = 0, 1
    while scored_to < len(seq):
        window = seq[start:start + 8]
        losses = plain_losses(model, window)
        end = start + len(window)
        for j in range(scored_to, end):
            expected[j] = losses[j - start - 1]
            assert j - start >= min(j, 4)  # at least half a block of context
        scored_to, start = end, end - 4
    assert [t.loss for t in score.tokens] == pytest.approx(
        [expected[j] for j in range(1, len(seq))], rel=1e-5)


def test_without_end_of_text_the_first_token_has_no_score():
    tok = CharTokenizer.from_text("hello world", special_tokens=())
    torch.manual_seed(0)
    from gptstudio.core.model import GPTConfig, build_model

    model = build_model(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1,
                                  n_head=1, n_embd=8)).eval()
    score = score_text(model, tok, "hello")
    assert score.tokens[0].loss is None and score.n_scored == 4
    expected = plain_losses(model, tok.encode("hello"))
    assert [t.loss for t in score.tokens[1:]] == pytest.approx(expected, rel=1e-5)


def test_a_split_character_keeps_its_text_and_shows_its_bytes():
    score = score_text(tiny_gpt(), TOK, "né")
    assert [t.piece for t in score.tokens] == ["n", "", "é"]
    assert [t.label for t in score.tokens] == ["n", "⟨c3⟩", "⟨a9⟩"]


def test_bad_input_is_refused_clearly():
    model = tiny_gpt()
    with pytest.raises(ConfigError, match="some text to score"):
        score_text(model, TOK, "")
    tok = CharTokenizer.from_text("abc")
    from gptstudio.core.model import GPTConfig, build_model

    small = build_model(GPTConfig(vocab_size=tok.vocab_size, block_size=8, n_layer=1,
                                  n_head=1, n_embd=8))
    with pytest.raises(TokenizerError, match="not in the vocabulary"):
        score_text(small, tok, "abz")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        score_text(model, TOK, "some text", cancel=cancel)
