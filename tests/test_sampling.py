"""Sampling: greedy, temperature, top-k, top-p, seeds, stop conditions, cancel, pieces, caches.

Mock models make the expected tokens known in advance; small real models check the KV cache,
the LSTM state and long prompts.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from gptstudio.core.errors import ConfigError
from gptstudio.core.model import GPTConfig, LSTMConfig, ModelOutput, build_model
from gptstudio.core.sampling import (
    REFILL_FRACTION,
    SamplingConfig,
    TokenEvent,
    _ContextReader,
    generate,
    next_token_probs,
    stream_tokens,
)

EOT = 256


class ByteTokenizer:
    """Test double of the Tokenizer interface: one token per byte, plus <|endoftext|> = 256."""

    vocab_size = 257
    eot_id: int | None = EOT

    def encode(self, text: str, allowed_special="none") -> list[int]:
        parts = text.split("<|endoftext|>")
        ids: list[int] = []
        for i, part in enumerate(parts):
            if i:
                ids.append(EOT)
            ids.extend(part.encode("utf-8"))
        return ids

    def token_bytes(self, id: int) -> bytes:
        return b"<|endoftext|>" if id == EOT else bytes([id])

    def token_str(self, id: int) -> str:
        return self.token_bytes(id).decode("utf-8", errors="replace")

    def decode(self, ids) -> str:
        return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", errors="replace")


class SuccessorModel(nn.Module):
    """Mock: after token t it is sure the next one is successors.get(t, (t + 1) % vocab)."""

    def __init__(self, successors: dict[int, int] | None = None, block_size: int = 64,
                 vocab_size: int = 257) -> None:
        super().__init__()
        self.config = SimpleNamespace(block_size=block_size)
        self.successors = successors or {}
        self.vocab_size = vocab_size
        self.anchor = nn.Parameter(torch.zeros(1))  # so the sampler can find a device
        self.calls: list[int] = []

    def forward(self, idx, targets=None, **kwargs) -> ModelOutput:
        self.calls.append(idx.shape[1])
        nxt = idx.clone().apply_(lambda t: self.successors.get(t, (t + 1) % self.vocab_size))
        logits = torch.zeros(*idx.shape, self.vocab_size)
        logits.scatter_(-1, nxt.unsqueeze(-1), 20.0)
        return ModelOutput(logits=logits)


class FixedModel(nn.Module):
    """Mock: the same logits after every token."""

    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.config = SimpleNamespace(block_size=8)
        self.logits = logits
        self.anchor = nn.Parameter(torch.zeros(1))

    def forward(self, idx, targets=None, **kwargs) -> ModelOutput:
        return ModelOutput(logits=self.logits.expand(*idx.shape, -1).clone())


def tiny_gpt(block_size: int = 32, seed: int = 0):
    torch.manual_seed(seed)
    cfg = GPTConfig(vocab_size=257, block_size=block_size, n_layer=2, n_head=2, n_embd=32)
    return build_model(cfg).eval()


def ids_of(events) -> list[int]:
    return [e.id for e in events]


TOK = ByteTokenizer()


# -- config ------------------------------------------------------------------------------------
@pytest.mark.parametrize("field,value,message", [
    ("max_new_tokens", -1, "max_new_tokens must be 0 or more"),
    ("max_new_tokens", 2.5, "max_new_tokens must be 0 or more"),
    ("temperature", -0.5, "temperature must be 0"),
    ("temperature", "hot", "temperature must be 0"),
    ("top_k", 0, "top_k must be at least 1"),
    ("top_p", 0.0, r"top_p must be in \(0, 1\]"),
    ("top_p", 1.5, r"top_p must be in \(0, 1\]"),
    ("seed", 1.5, "seed must be a whole number"),
    ("stop_strings", "END", "stop_strings must be a list of non-empty strings"),
    ("stop_strings", ("",), "stop_strings must be a list of non-empty strings"),
    ("n_alternatives", -2, "n_alternatives must be 0 or more"),
])
def test_invalid_sampling_config_is_refused(field, value, message):
    with pytest.raises(ConfigError, match=message):
        SamplingConfig(**{field: value})


def test_stop_strings_given_as_list_are_stored_as_tuple():
    assert SamplingConfig(stop_strings=["a", "b"]).stop_strings == ("a", "b")


# -- the distribution ----------------------------------------------------------------------------
def test_temperature_sharpens_and_flattens():
    logits = torch.tensor([1.0, 2.0, 3.0])
    plain = next_token_probs(logits, SamplingConfig(temperature=1.0))
    cold = next_token_probs(logits, SamplingConfig(temperature=0.5))
    hot = next_token_probs(logits, SamplingConfig(temperature=2.0))
    torch.testing.assert_close(plain, torch.softmax(logits, -1))
    assert cold[2] > plain[2] > hot[2]


def test_top_k_keeps_exactly_k_even_with_ties():
    probs = next_token_probs(torch.tensor([1.0, 5.0, 5.0, 5.0, 0.0]),
                             SamplingConfig(top_k=2))
    assert int((probs > 0).sum()) == 2
    assert probs.sum().item() == pytest.approx(1.0)


def test_top_p_keeps_the_smallest_set_reaching_p():
    logits = torch.tensor([0.5, 0.3, 0.15, 0.05]).log()
    kept = lambda p: (next_token_probs(logits, SamplingConfig(top_p=p)) > 0).tolist()  # noqa
    assert kept(0.4) == [True, False, False, False]
    assert kept(0.7) == [True, True, False, False]
    assert kept(0.85) == [True, True, True, False]
    assert kept(1.0) == [True, True, True, True]
    probs = next_token_probs(logits, SamplingConfig(top_p=0.7))
    torch.testing.assert_close(probs, torch.tensor([0.625, 0.375, 0.0, 0.0]))


# -- generation with mock models -------------------------------------------------------------------
def test_greedy_follows_the_model_and_reports_its_probability():
    events = list(stream_tokens(SuccessorModel(), TOK, "a", SamplingConfig(
        temperature=0, max_new_tokens=4, n_alternatives=3)))
    assert "".join(e.piece for e in events) == "bcde"
    assert all(isinstance(e, TokenEvent) for e in events)
    first = events[0]
    assert first.prob > 0.99
    assert first.alternatives[0][:2] == (ord("b"), "b")
    assert len(first.alternatives) == 3
    probs = [p for _, _, p in first.alternatives]
    assert probs == sorted(probs, reverse=True)


def test_top_k_never_yields_outside_the_top_k():
    torch.manual_seed(1)
    logits = torch.randn(257)
    allowed = set(torch.topk(logits, 5).indices.tolist())
    cfg = SamplingConfig(temperature=1.5, top_k=5, seed=3, max_new_tokens=300, stop_at_eot=False)
    events = list(stream_tokens(FixedModel(logits), TOK, "x", cfg))
    seen = set(ids_of(events))
    assert seen <= allowed
    assert len(seen) >= 4  # and it does sample, not just take the best
    assert all({a for a, _, _ in e.alternatives} <= allowed for e in events)


def test_top_p_never_yields_outside_the_nucleus():
    logits = torch.full((257,), -10.0)
    logits[[10, 20, 30]] = torch.tensor([0.5, 0.3, 0.2]).log()
    cfg = SamplingConfig(top_p=0.75, seed=0, max_new_tokens=200)
    seen = set(ids_of(stream_tokens(FixedModel(logits), TOK, "x", cfg)))
    assert seen == {10, 20}


def test_stop_string_ends_generation_and_generate_cuts_before_it():
    cfg = SamplingConfig(temperature=0, max_new_tokens=20, stop_strings=("xyz", "de"))
    events = list(stream_tokens(SuccessorModel(), TOK, "a", cfg))
    assert "".join(e.piece for e in events) == "bcde"  # stops on the token completing "de"
    assert generate(SuccessorModel(), TOK, "a", cfg) == "bc"


def test_end_of_text_stops_and_is_not_yielded():
    model = SuccessorModel(successors={ord("c"): EOT})
    cfg = SamplingConfig(temperature=0, max_new_tokens=20)
    assert generate(model, TOK, "a", cfg) == "bc"
    # Without the stop, <|endoftext|> is an ordinary token and generation goes on (257 -> 0).
    events = list(stream_tokens(model, TOK, "a", SamplingConfig(
        temperature=0, max_new_tokens=4, stop_at_eot=False)))
    assert [e.piece for e in events] == ["b", "c", "<|endoftext|>", "\x00"]


def test_max_new_tokens_is_respected():
    assert len(generate(SuccessorModel(), TOK, "a", SamplingConfig(max_new_tokens=7,
                                                                 temperature=0))) == 7
    assert list(stream_tokens(SuccessorModel(), TOK, "a", SamplingConfig(max_new_tokens=0))) == []


def test_cancel_stops_before_the_next_token():
    cancel = threading.Event()
    events = []
    cfg = SamplingConfig(temperature=0, max_new_tokens=50)
    for event in stream_tokens(SuccessorModel(), TOK, "a", cfg, cancel=cancel):
        events.append(event)
        if len(events) == 3:
            cancel.set()
    assert len(events) == 3
    cancel_first = threading.Event()
    cancel_first.set()
    assert list(stream_tokens(SuccessorModel(), TOK, "a", cfg, cancel=cancel_first)) == []


def test_multibyte_characters_arrive_whole():
    # "é" is two bytes: the first token adds no text yet, the second the whole character.
    model = SuccessorModel(successors={ord("a"): 0xC3, 0xC3: 0xA9, 0xA9: ord("!")})
    events = list(stream_tokens(model, TOK, "a", SamplingConfig(temperature=0,
                                                                max_new_tokens=3)))
    assert [e.piece for e in events] == ["", "é", "!"]
    assert generate(model, TOK, "a", SamplingConfig(temperature=0, max_new_tokens=3)) == "é!"


def test_empty_prompt_starts_from_end_of_text_or_is_refused():
    cfg = SamplingConfig(temperature=0, max_new_tokens=2, stop_at_eot=False)
    assert generate(SuccessorModel(), TOK, "", cfg) == "\x00\x01"  # after 256 comes 0
    no_eot = ByteTokenizer()
    no_eot.eot_id = None
    with pytest.raises(ConfigError, match="Type a prompt"):
        list(stream_tokens(SuccessorModel(), no_eot, "", cfg))


def test_model_mode_is_restored_and_global_rng_untouched():
    model = tiny_gpt()
    model.train()
    rng_before = torch.get_rng_state()
    generate(model, TOK, "hello", SamplingConfig(max_new_tokens=5, seed=1))
    assert model.training
    assert torch.equal(torch.get_rng_state(), rng_before)


# -- real models ----------------------------------------------------------------------------------
def test_seed_makes_sampling_reproducible():
    model = tiny_gpt()
    cfg = SamplingConfig(max_new_tokens=30, seed=42, stop_at_eot=False)
    first = ids_of(stream_tokens(model, TOK, "Hi", cfg))
    assert ids_of(stream_tokens(model, TOK, "Hi", cfg)) == first
    other = ids_of(stream_tokens(model, TOK, "Hi", SamplingConfig(
        max_new_tokens=30, seed=43, stop_at_eot=False)))
    assert other != first


def test_greedy_is_deterministic_and_matches_a_plain_argmax_loop():
    model = tiny_gpt()
    cfg = SamplingConfig(temperature=0, max_new_tokens=20, stop_at_eot=False)
    got = ids_of(stream_tokens(model, TOK, "Hello", cfg))
    assert ids_of(stream_tokens(model, TOK, "Hello", cfg)) == got
    ids = TOK.encode("Hello")
    with torch.no_grad():
        for _ in range(20):
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    assert got == ids[5:]


@pytest.mark.parametrize("make", [tiny_gpt, lambda: build_model(LSTMConfig(
    vocab_size=257, n_embd=16, n_hidden=32, n_layer=2, block_size=32)).eval()])
def test_cache_or_state_gives_the_same_greedy_text_as_rereading(make):
    torch.manual_seed(0)
    model = make()
    kwargs = dict(temperature=0, max_new_tokens=20, stop_at_eot=False)
    cached = ids_of(stream_tokens(model, TOK, "The", SamplingConfig(**kwargs)))
    plain = ids_of(stream_tokens(model, TOK, "The", SamplingConfig(use_cache=False, **kwargs)))
    assert cached == plain


def test_prompt_longer_than_block_size_is_cropped_on_the_left():
    model = SuccessorModel(block_size=8)
    long_prompt = "abcdefghijklmnopqrstuvw"
    cfg = SamplingConfig(temperature=0, max_new_tokens=3, use_cache=False)
    assert generate(model, TOK, long_prompt, cfg) == "xyz"
    assert max(model.calls) == 8
    gpt = tiny_gpt(block_size=16)
    assert len(generate(gpt, TOK, long_prompt * 3, SamplingConfig(max_new_tokens=5, seed=0))) > 0


def test_full_kv_cache_is_refilled_with_the_recent_context():
    model = tiny_gpt(block_size=8)
    reader = _ContextReader(model, use_cache=True)
    reader.start(list(range(1, 9)))  # fills the cache
    logits = reader.push(9)  # full: reset and re-read the last 3/4 of the block
    keep = int(8 * REFILL_FRACTION)
    assert reader.cache.length == keep
    with torch.no_grad():
        expected = model(torch.tensor([list(range(1, 10))[-keep:]])).logits[0, -1]
    torch.testing.assert_close(logits, expected)
    # Generation far beyond block_size keeps working.
    events = list(stream_tokens(model, TOK, "ab", SamplingConfig(
        max_new_tokens=40, seed=0, stop_at_eot=False)))
    assert len(events) == 40


def test_works_with_the_real_char_tokenizer():
    from gptstudio.core.tokenizers import CharTokenizer

    tok = CharTokenizer.from_text("hello world")
    torch.manual_seed(0)
    model = build_model(GPTConfig(vocab_size=tok.vocab_size, block_size=16, n_layer=1,
                                  n_head=1, n_embd=8))
    text = generate(model, tok, "hello", SamplingConfig(max_new_tokens=10, seed=0,
                                                        stop_at_eot=False))
    assert len(text) >= 1 and set(text) <= set("helo wrd<|endoftxt>")
