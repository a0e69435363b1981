"""The next-token distribution the Generate tab draws: cuts, renormalisation, greedy, logits.

The oracle is the sampler's own rule (`next_token_probs`) and a plain numpy recomputation, and
sampling itself: a cut candidate is never drawn.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gptstudio.core.next_token import next_token_distribution, next_token_logits, token_label
from gptstudio.core.sampling import SamplingConfig, next_token_probs, stream_tokens
from tests.test_sampling import TOK, FixedModel, tiny_gpt


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


LOGITS = np.log(np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.04]))


def letters(i: int) -> str:
    return "abcdef"[i]


def test_plain_sampling_cuts_nothing_and_matches_softmax():
    d = next_token_distribution(LOGITS, letters, SamplingConfig(), n=6)
    assert [c.piece for c in d.candidates] == list("abcdef")
    assert not any(c.cut for c in d.candidates)
    np.testing.assert_allclose([c.prob for c in d.candidates], softmax(LOGITS), rtol=1e-6)
    assert d.n_kept == 6 and not d.greedy
    expected_entropy = -(softmax(LOGITS) * np.log(softmax(LOGITS))).sum()
    assert d.entropy == pytest.approx(expected_entropy, rel=1e-5)


@pytest.mark.parametrize("config", [
    SamplingConfig(temperature=0.7, top_k=3), SamplingConfig(temperature=1.3, top_p=0.6),
    SamplingConfig(temperature=2.0, top_k=4, top_p=0.5), SamplingConfig(top_p=0.95),
])
def test_cuts_and_probabilities_follow_the_samplers_rule(config):
    d = next_token_distribution(LOGITS, letters, config, n=6)
    rule = next_token_probs(torch.tensor(LOGITS, dtype=torch.float32), config).numpy()
    for c in d.candidates:
        assert c.prob == pytest.approx(float(rule[c.id]), abs=1e-7)
        assert c.cut == (rule[c.id] == 0)
        assert c.scaled_prob == pytest.approx(softmax(LOGITS / config.temperature)[c.id], rel=1e-5)
        assert c.model_prob == pytest.approx(softmax(LOGITS)[c.id], rel=1e-5)
    assert d.n_kept == int((rule > 0).sum())
    assert sum(c.prob for c in d.kept) == pytest.approx(1.0, abs=1e-6)


def test_top_k_keeps_exactly_k_and_temperature_reorders_nothing():
    d = next_token_distribution(LOGITS, letters, SamplingConfig(top_k=2, temperature=3), n=6)
    assert [c.cut for c in d.candidates] == [False, False, True, True, True, True]
    hot = [c.scaled_prob for c in d.candidates]
    assert hot == sorted(hot, reverse=True)  # ranks are the model's
    cold = next_token_distribution(LOGITS, letters, SamplingConfig(temperature=0.3), n=6)
    assert cold.candidates[0].scaled_prob > d.candidates[0].scaled_prob


def test_greedy_keeps_only_the_best():
    d = next_token_distribution(LOGITS, letters, SamplingConfig(temperature=0), n=4)
    assert d.greedy and d.n_kept == 1 and d.entropy == 0
    assert [c.cut for c in d.candidates] == [False, True, True, True]
    assert d.candidates[0].prob == 1.0
    assert d.candidates[0].scaled_prob == pytest.approx(0.4, rel=1e-5)  # the model's own


def test_a_cut_candidate_is_never_sampled():
    torch.manual_seed(3)
    logits = torch.randn(257) * 2
    config = SamplingConfig(temperature=1.2, top_p=0.5, seed=1, max_new_tokens=300,
                            stop_at_eot=False)
    d = next_token_distribution(logits.numpy(), token_label(TOK), config, n=257)
    kept = {c.id for c in d.candidates if not c.cut}
    drawn = {e.id for e in stream_tokens(FixedModel(logits), TOK, "x", config)}
    assert drawn <= kept and len(drawn) > 1


def test_next_token_logits_are_the_models_last_position():
    model = tiny_gpt(block_size=8)
    got = next_token_logits(model, TOK, "Hello, world")
    assert got.prompt.n_cropped == len("Hello, world") - 8
    with torch.no_grad():
        expected = model(torch.tensor([TOK.encode("Hello, world")[-8:]])).logits[0, -1]
    np.testing.assert_allclose(got.logits, expected.numpy(), rtol=1e-5, atol=1e-6)
    assert got.logits.flags.owndata or got.logits.base is not None  # a numpy copy
    # Its labels name the most likely tokens, so the distribution needs no tokenizer.
    dist = got.distribution(SamplingConfig(top_k=3))
    assert [c.id for c in dist.candidates] == np.argsort(-expected.numpy())[:20].tolist()
    assert [c.piece for c in dist.candidates] == [token_label(TOK)(c.id) for c in dist.candidates]
    assert [c.cut for c in dist.candidates] == [False] * 3 + [True] * 17
    empty = next_token_logits(model, TOK, "")  # an empty prompt reads end-of-text
    assert empty.prompt.ids == (256,)
