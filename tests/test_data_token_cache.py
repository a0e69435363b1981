"""The token cache: streamed tokenization, dtype choice, reuse, crash safety, errors."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from gptstudio.core.corpora import DOCUMENT_SEPARATOR, Corpus, load_builtin, load_corpus
from gptstudio.core.data import TokenizeProgress, token_dtype, tokenize_corpus
from gptstudio.core.data.token_cache import cache_key
from gptstudio.core.errors import Cancelled, DatasetError


class ByteTokenizer:
    """A stand-in tokenizer: UTF-8 bytes, "<|endoftext|>" = 256; ids shifted by `offset`."""

    def __init__(self, vocab_size=257, offset=0, name="bytes"):
        self.vocab_size = vocab_size
        self.offset = offset
        self.name = name
        self.calls = 0

    def encode(self, text, allowed_special="none"):
        assert allowed_special == "all"  # documents are separated by the special token
        self.calls += 1
        ids = []
        for i, part in enumerate(text.split(DOCUMENT_SEPARATOR)):
            if i:
                ids.append(256 + self.offset)
            ids.extend(b + self.offset for b in part.encode("utf-8"))
        return ids

    def fingerprint(self):
        return f"{self.name}-{self.vocab_size}-{self.offset}"


TEXT = ("The fox ran.\nThe crow sang ✓.\n" * 300) + DOCUMENT_SEPARATOR + "Second document.\n"


def expected_ids(tok, text=TEXT):
    return tok.encode(text, allowed_special="all")


def files_in(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_tokenizes_in_chunks_into_a_read_only_uint16_memmap(tmp_path):
    tok = ByteTokenizer()
    corpus = Corpus("t", "m", text=TEXT)
    events: list[TokenizeProgress] = []
    ids = tokenize_corpus(corpus, tok, cache_dir=tmp_path, progress=events.append,
                          chunk_chars=500)
    assert isinstance(ids, np.memmap) and ids.dtype == np.uint16
    assert ids.tolist() == expected_ids(ByteTokenizer())
    assert tok.calls > 10  # really chunked
    assert not ids.flags.writeable
    n_chars, n_bytes = corpus.n_chars, corpus.n_bytes
    assert events[0] == TokenizeProgress(0, n_chars, 0, total_bytes=n_bytes)
    assert events[-1] == TokenizeProgress(n_chars, n_chars, len(ids), done_bytes=n_bytes,
                                          total_bytes=n_bytes)
    done = [e.done_chars for e in events]
    assert done == sorted(done)
    key = cache_key(corpus, tok)
    assert files_in(tmp_path) == [f"{key}.bin", f"{key}.json"]


def test_second_call_uses_the_cache(tmp_path):
    corpus = Corpus("t", "m", text=TEXT)
    first = tokenize_corpus(corpus, ByteTokenizer(), cache_dir=tmp_path)
    tok = ByteTokenizer()
    events = []
    again = tokenize_corpus(corpus, tok, cache_dir=tmp_path, progress=events.append)
    assert tok.calls == 0
    assert np.array_equal(first, again)
    n_chars, n_bytes = corpus.n_chars, corpus.n_bytes
    assert events == [TokenizeProgress(n_chars, n_chars, len(first), cached=True,
                                       done_bytes=n_bytes, total_bytes=n_bytes)]


def test_cache_is_keyed_by_corpus_and_tokenizer(tmp_path):
    corpus = Corpus("t", "m", text=TEXT)
    tokenize_corpus(corpus, ByteTokenizer(), cache_dir=tmp_path)
    other_tok = ByteTokenizer(name="other")
    tokenize_corpus(corpus, other_tok, cache_dir=tmp_path)
    other_text = ByteTokenizer()
    tokenize_corpus(Corpus("t", "m", text=TEXT + "more"), other_text, cache_dir=tmp_path)
    assert other_tok.calls > 0 and other_text.calls > 0
    assert len(files_in(tmp_path)) == 6


def test_large_vocabulary_uses_uint32(tmp_path):
    tok = ByteTokenizer(vocab_size=100_300, offset=100_000)  # ids up to 100,256
    ids = tokenize_corpus(Corpus("t", "m", text=TEXT), tok, cache_dir=tmp_path)
    assert ids.dtype == np.uint32
    assert ids.tolist() == expected_ids(ByteTokenizer(offset=100_000))  # no wrap-around
    assert int(ids.max()) == 100_256


def test_token_dtype():
    assert token_dtype(256) == np.uint16 and token_dtype(65_536) == np.uint16
    assert token_dtype(65_537) == np.uint32 and token_dtype(200_019) == np.uint32
    with pytest.raises(DatasetError):
        token_dtype(0)


@pytest.mark.parametrize("offset", [65_300, -300], ids=["too-big", "negative"])
def test_id_that_does_not_fit_is_an_error_and_nothing_is_cached(tmp_path, offset):
    tok = ByteTokenizer(vocab_size=257, offset=offset)  # lies about its vocabulary
    with pytest.raises(DatasetError, match=r"Token id -?\d+ does not fit .*uint16"):
        tokenize_corpus(Corpus("t", "m", text=TEXT), tok, cache_dir=tmp_path, chunk_chars=500)
    assert files_in(tmp_path) == []


def test_cancel_between_chunks_leaves_nothing(tmp_path):
    cancel = threading.Event()

    def on_progress(event):
        if event.done_chars > 0:
            cancel.set()

    with pytest.raises(Cancelled):
        tokenize_corpus(Corpus("t", "m", text=TEXT), ByteTokenizer(), cache_dir=tmp_path,
                        progress=on_progress, cancel=cancel, chunk_chars=500)
    assert files_in(tmp_path) == []


def _build(tmp_path):
    corpus = Corpus("t", "m", text=TEXT)
    tokenize_corpus(corpus, ByteTokenizer(), cache_dir=tmp_path)
    key = cache_key(corpus, ByteTokenizer())
    return corpus, tmp_path / f"{key}.bin", tmp_path / f"{key}.json"


@pytest.mark.parametrize("damage", ["truncate-bin", "garbage-json", "no-json", "wrong-length",
                                    "other-dtype", "no-bin"])
def test_damaged_cache_is_rebuilt(tmp_path, damage):
    corpus, bin_path, meta_path = _build(tmp_path)
    if damage == "truncate-bin":  # e.g. a disk that filled up
        bin_path.write_bytes(bin_path.read_bytes()[:-6])
    elif damage == "garbage-json":
        meta_path.write_text("{not json")
    elif damage == "no-json":  # a crash after the .bin was moved, before the sidecar
        meta_path.unlink()
    elif damage == "wrong-length":
        meta = json.loads(meta_path.read_text())
        meta_path.write_text(json.dumps({**meta, "length": meta["length"] - 3}))
    elif damage == "other-dtype":
        meta = json.loads(meta_path.read_text())
        meta_path.write_text(json.dumps({**meta, "dtype": "uint32"}))
    else:
        bin_path.unlink()
    tok = ByteTokenizer()
    ids = tokenize_corpus(corpus, tok, cache_dir=tmp_path)
    assert tok.calls > 0  # rebuilt, not trusted
    assert ids.tolist() == expected_ids(ByteTokenizer())
    assert sorted(files_in(tmp_path)) == sorted([bin_path.name, meta_path.name])


def test_leftover_temp_file_of_a_dead_process_is_removed(tmp_path):
    corpus = Corpus("t", "m", text=TEXT)
    key = cache_key(corpus, ByteTokenizer())
    tmp_path.mkdir(exist_ok=True)
    stale = tmp_path / f".{key}.bin.tmp-999999999-deadbeef"  # no such pid
    stale.write_bytes(b"half written")
    tokenize_corpus(corpus, ByteTokenizer(), cache_dir=tmp_path)
    assert not stale.exists()


def test_default_cache_dir_is_in_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GPTSTUDIO_CACHE_DIR", str(tmp_path))
    tokenize_corpus(Corpus("t", "m", text=TEXT), ByteTokenizer())
    assert len(files_in(tmp_path / "tokens")) == 2


def test_file_corpus_is_streamed_not_loaded(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"{i}.txt").write_text(TEXT, encoding="utf-8")
    corpus = load_corpus(src)
    ids = tokenize_corpus(corpus, ByteTokenizer(), cache_dir=tmp_path / "cache", chunk_chars=999)
    assert "text" not in corpus.__dict__  # never joined into one string
    assert ids.tolist() == expected_ids(ByteTokenizer(), corpus.text)


def test_with_real_tokenizers_on_the_default_corpus(tmp_path):
    from gptstudio.core.tokenizers import BPETokenizer, CharTokenizer

    corpus = load_builtin("fables")
    bpe = BPETokenizer.train(corpus.text[:30_000], 300)
    for tok in (CharTokenizer.from_text(corpus.text), bpe):
        ids = tokenize_corpus(corpus, tok, cache_dir=tmp_path, chunk_chars=20_000)
        assert ids.dtype == np.uint16
        assert ids.tolist() == tok.encode(corpus.text, allowed_special="all")
        assert tok.eot_id in set(ids.tolist())  # document separators became the special id
