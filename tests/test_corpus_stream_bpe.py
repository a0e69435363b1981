"""Tokenizers learnt from a corpus streamed in chunks: the same BPE merges and the same character
vocabulary as from the whole text, with progress, cancellation and a stated sample."""

from __future__ import annotations

import threading

import pytest

from gptstudio.core.corpora import DOCUMENT_SEPARATOR, load_corpus
from gptstudio.core.corpora import files as corpus_files
from gptstudio.core.errors import Cancelled
from gptstudio.core.tokenizers import (
    BPETokenizer,
    CharScanEvent,
    CharTokenizer,
    MergeEvent,
    WordCountEvent,
    iter_bpe_training_chunks,
    resolve_tokenizer,
    train_bpe_chunks,
)
from gptstudio.core.tokenizers.bpe_train import count_words, iter_word_counts


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(corpus_files, "BLOCK_BYTES", 4096)


@pytest.fixture()
def folder(tmp_path, shared_data):
    """A folder corpus: Shakespeare, non-ASCII prose and The Verdict, as three documents."""
    shakespeare = (shared_data / "tinyshakespeare.txt").read_text(encoding="utf-8")
    verdict = (shared_data / "the-verdict.txt").read_text(encoding="utf-8")
    prose = "Grüße aus Köln — “naïve” café, 東京 ✓.\n" * 500
    texts = [shakespeare[:150_000], prose, verdict]
    for name, text in zip(("a.txt", "b.txt", "c.md"), texts):
        (tmp_path / name).write_text(text, encoding="utf-8")
    return load_corpus(tmp_path), DOCUMENT_SEPARATOR.join(texts)


@pytest.mark.parametrize("pattern", ["gpt2", "gpt4"])
@pytest.mark.parametrize("chunk_chars", [300, 5000])
def test_streamed_bpe_training_learns_the_same_merges(folder, pattern, chunk_chars):
    corpus, text = folder
    expected = BPETokenizer.train(text, 700, pattern=pattern)
    streamed = train_bpe_chunks(corpus.iter_chunks(chunk_chars), 700, pattern=pattern)
    assert streamed.merges == expected.merges
    assert streamed.fingerprint() == expected.fingerprint()
    assert "text" not in corpus.__dict__  # the text was never held whole


def test_streamed_word_counts_equal_the_whole_text_counts(folder):
    corpus, text = folder
    counting = iter_word_counts(corpus.iter_chunks(777), "gpt4", total_chars=corpus.n_chars)
    events = []
    while True:
        try:
            events.append(next(counting))
        except StopIteration as done:
            counts = done.value
            break
    assert counts == count_words(text, "gpt4")
    assert events[-1] == WordCountEvent(corpus.n_chars, corpus.n_chars, corpus.n_chars,
                                        sum(counts.values()), len(counts), False)
    assert [e.done_chars for e in events] == sorted(e.done_chars for e in events)


def test_events_come_from_the_first_chunk_then_merges(folder):
    corpus, _ = folder
    events = []
    tok = train_bpe_chunks(corpus.iter_chunks(2000), 300, progress=events.append,
                           total_chars=corpus.n_chars)
    counts = [e for e in events if isinstance(e, WordCountEvent)]
    merges = [e for e in events if isinstance(e, MergeEvent)]
    assert isinstance(events[0], WordCountEvent) and events[0].done_chars <= 2000 * 2
    assert events[: len(counts)] == counts  # all counting before the first merge
    assert len(counts) > 50 and not any(e.sampled for e in counts)  # ~95 chunks of 2000
    assert [e.pair for e in merges] == tok.merges and len(merges) == 300 - 257


def test_a_stated_sample_counts_every_kth_chunk(folder):
    corpus, _ = folder
    sample = corpus.n_chars // 4
    events = []
    tok = train_bpe_chunks(corpus.iter_chunks(1000), 500, progress=events.append,
                           total_chars=corpus.n_chars, sample_chars=sample)
    last = [e for e in events if isinstance(e, WordCountEvent)][-1]
    assert last.sampled and last.done_chars == corpus.n_chars
    assert 0.5 * sample < last.counted_chars < 1.5 * sample
    # The oracle: ordinary training on exactly the chunks that were counted.
    chunks = list(corpus.iter_chunks(1000))
    stride = -(-corpus.n_chars // sample)
    counted = [c for i, c in enumerate(chunks) if i % stride == 0]
    assert sum(map(len, counted)) == last.counted_chars
    expected = BPETokenizer.train("".join(counted), 500)
    assert tok.merges == expected.merges


def test_no_sample_when_the_corpus_is_smaller_than_it(folder):
    corpus, text = folder
    events = []
    tok = train_bpe_chunks(corpus.iter_chunks(1000), 400, progress=events.append,
                           total_chars=corpus.n_chars, sample_chars=corpus.n_chars * 2)
    assert not any(getattr(e, "sampled", False) for e in events)
    assert tok.merges == BPETokenizer.train(text, 400).merges


def test_counting_can_be_cancelled(folder):
    corpus, _ = folder
    cancel = threading.Event()
    training = iter_bpe_training_chunks(corpus.iter_chunks(1000), 400, cancel=cancel)
    first = next(training)
    assert isinstance(first, WordCountEvent)
    cancel.set()
    with pytest.raises(Cancelled, match="counting"):
        next(training)


def test_resolve_tokenizer_streams_a_corpus(folder):
    corpus, text = folder
    events = []
    char = resolve_tokenizer("char", corpus=corpus, progress=events.append)
    assert char.chars == CharTokenizer.from_text(text).chars
    assert char.fingerprint() == CharTokenizer.from_text(text).fingerprint()
    assert all(isinstance(e, CharScanEvent) for e in events)
    assert events[-1].done_chars == corpus.n_chars == events[-1].total_chars
    bpe = resolve_tokenizer("bpe:450:gpt4", corpus=corpus)
    assert bpe.merges == BPETokenizer.train(text, 450, pattern="gpt4").merges
    assert "text" not in corpus.__dict__


def test_char_vocabulary_from_chunks_drops_special_tokens_and_can_be_cancelled():
    chunks = ["ab<|endoftext|>", "cd", "<|endoftext|>z"]
    assert CharTokenizer.from_chunks(chunks).chars == ["a", "b", "c", "d", "z"]
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        CharTokenizer.from_chunks(chunks, cancel=cancel)
