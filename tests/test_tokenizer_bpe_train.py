"""BPE training: the incremental trainer equals a naive recount, with events and cancellation."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gptstudio.core.errors import Cancelled, TokenizerError
from gptstudio.core.tokenizers import (
    ENDOFTEXT,
    BPETokenizer,
    MergeEvent,
    bpe_train,
    iter_bpe_training,
)
from gptstudio.core.tokenizers.bpe_train import count_words, merge_word


def naive_merges(text: str, n_merges: int, pattern: str = "gpt2") -> list[tuple[int, int]]:
    """The textbook trainer: recount every pair of every word before each merge."""
    word_counts = count_words(text, pattern)
    words = [list(w.encode("utf-8")) for w in word_counts]
    freqs = list(word_counts.values())
    merges: list[tuple[int, int]] = []
    while len(merges) < n_merges:
        counts: Counter[tuple[int, int]] = Counter()
        for word, freq in zip(words, freqs):
            for pair in zip(word, word[1:]):
                counts[pair] += freq
        if not counts:
            break
        best = min(counts, key=lambda p: (-counts[p], p))  # documented tie-break
        words = [merge_word(w, best, 256 + len(merges)) for w in words]
        merges.append(best)
    return merges


def train(text: str, vocab_size: int, **kwargs) -> tuple[BPETokenizer, list[MergeEvent]]:
    events: list[MergeEvent] = []

    def consume():
        return (yield from iter_bpe_training(text, vocab_size, **kwargs))

    gen = consume()
    try:
        while True:
            events.append(next(gen))
    except StopIteration as done:
        return done.value, events


@pytest.fixture(scope="module")
def shakespeare(shared_data) -> str:
    return (shared_data / "tinyshakespeare.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("pattern", ["gpt2", "gpt4"])
def test_incremental_training_equals_naive_recount_on_real_text(shared_data, pattern):
    text = (shared_data / "the-verdict.txt").read_text(encoding="utf-8")
    tok = BPETokenizer.train(text, 256 + 1 + 150, pattern=pattern)
    assert tok.merges == naive_merges(text, 150, pattern)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ab c\nd1", max_size=60), st.integers(1, 25))
def test_incremental_training_equals_naive_recount_on_random_text(text, n_merges):
    # A tiny alphabet makes overlapping pairs ("aaa") and ties frequent.
    if not text:
        return
    tok = BPETokenizer.train(text, 256 + 1 + n_merges, pattern="gpt2")
    assert tok.merges == naive_merges(text, n_merges)


def test_ties_go_to_the_smallest_pair_of_ids():
    # Pieces "ab" and " cd": the pairs (97,98), (32,99), (99,100) all occur once.
    tok = BPETokenizer.train("ab cd", 256 + 1 + 1)
    assert tok.merges == [(32, 99)]


def test_the_most_frequent_pair_is_merged_first():
    # Pieces "xy", " xy", " xy", " ab": "xy" occurs 3 times, " x" twice, the others once.
    tok = BPETokenizer.train("xy xy xy ab", 256 + 1 + 2)
    assert [tok.token_bytes(256), tok.token_bytes(257)] == [b"xy", b" xy"]


def test_events_describe_each_merge(shakespeare):
    tok, events = train(shakespeare, 512)
    assert [e.index for e in events] == list(range(255))
    assert tok.merges == [e.pair for e in events]
    assert events[0] == MergeEvent(0, (32, 116), b" t", 23837, events[0].compression)
    for e in events:
        assert e.token_bytes == tok.token_bytes(e.pair[0]) + tok.token_bytes(e.pair[1])
        assert tok.token_bytes(256 + e.index) == e.token_bytes
    compressions = [e.compression for e in events]
    assert compressions == sorted(compressions) and compressions[0] > 1.0
    # The last event's compression is what the trained tokenizer achieves on its text.
    n_bytes = len(shakespeare.encode("utf-8"))
    assert compressions[-1] == pytest.approx(n_bytes / len(tok.encode_ordinary(shakespeare)))


def test_callback_sees_the_same_events_as_the_generator(shared_data):
    text = (shared_data / "the-verdict.txt").read_text(encoding="utf-8")
    seen: list[MergeEvent] = []
    tok = BPETokenizer.train(text, 300, progress=seen.append)
    tok2, events = train(text, 300)
    assert seen == events and tok.merges == tok2.merges


def test_vocab_size_counts_bytes_merges_and_special_tokens(shakespeare):
    tok = BPETokenizer.train(shakespeare[:20000], 300, special_tokens=(ENDOFTEXT, "<|pad|>"))
    assert tok.vocab_size == 300 and len(tok.merges) == 300 - 256 - 2
    assert tok.special_tokens == {ENDOFTEXT: 298, "<|pad|>": 299}
    assert tok.name == "BPE 300 (gpt2 pattern)"


def test_special_tokens_split_the_text_and_are_never_merged():
    # Uncut, the gpt2 pattern would find pieces such as "endoftext" and "|><|" here.
    text = ("xy " + ENDOFTEXT + ENDOFTEXT) * 50
    tok = BPETokenizer.train(text, 400)
    learned = [tok.token_bytes(256 + i) for i in range(len(tok.merges))]
    assert learned and all(set(t) <= set(b"xy ") for t in learned)
    assert tok.encode(text, allowed_special="all").count(tok.eot_id) == 100


def test_training_stops_when_nothing_is_left_to_merge():
    tok = BPETokenizer.train("abab", 1000)
    assert [tok.token_bytes(256 + i) for i in range(len(tok.merges))] == [b"ab", b"abab"]
    assert tok.vocab_size == 259 and tok.eot_id == 258


def test_cancel_stops_between_merges():
    cancel = threading.Event()
    seen: list[MergeEvent] = []

    def progress(event: MergeEvent) -> None:
        seen.append(event)
        if len(seen) == 3:
            cancel.set()

    with pytest.raises(Cancelled, match="after 3 merges"):
        BPETokenizer.train("the cat sat on the mat " * 20, 400, progress=progress,
                           cancel=cancel)
    assert len(seen) == 3


def test_a_pair_whose_bytes_are_already_a_token_is_skipped(monkeypatch):
    # We found no text where two different pairs spell the same bytes, so force one: the
    # first choice is offered again after it was merged, as if another pair spelled "ab".
    real_pop = bpe_train.PairStats.pop_best
    offered = []

    def pop_best(self, skip):
        if len(offered) == 1:
            offered.append("again")
            return (97, 98), 5
        offered.append("real")
        return real_pop(self, skip)

    monkeypatch.setattr(bpe_train.PairStats, "pop_best", pop_best)
    tok = BPETokenizer.train("ab ab cd", 256 + 1 + 3)
    tokens = [tok.token_bytes(256 + i) for i in range(len(tok.merges))]
    assert tokens[0] == b"ab" and tokens.count(b"ab") == 1 and len(set(tokens)) == len(tokens)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vocab_size": 256}, "at least 257"),
        ({"vocab_size": "512"}, "at least 257"),
        ({"pattern": "o200k"}, "'gpt2' or 'gpt4'"),
        ({"special_tokens": (ENDOFTEXT, ENDOFTEXT)}, "distinct"),
        ({"text": ENDOFTEXT * 3}, "empty"),
    ],
)
def test_bad_training_requests_raise_clear_errors(kwargs, message):
    args = {"text": "hello world", "vocab_size": 300, **kwargs}
    with pytest.raises(TokenizerError, match=message):
        BPETokenizer.train(**args)
