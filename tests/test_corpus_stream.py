"""Corpora larger than memory: a file or folder streamed into the token cache gives exactly the
ids of encoding the whole text at once, for characters, our BPE and GPT-2's real ranks.

The files are small (a few hundred KB), read in tiny blocks and cut into tiny chunks, so every
kind of boundary (block, chunk, file, document separator) is crossed many times.
"""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest

from gptstudio.core.corpora import DOCUMENT_SEPARATOR, ReadProgress, load_corpus
from gptstudio.core.corpora import files as corpus_files
from gptstudio.core.data import tokenize_corpus
from gptstudio.core.data.token_cache import encode_chunk
from gptstudio.core.errors import Cancelled, TokenizerError
from gptstudio.core.tokenizers import BPETokenizer, CharTokenizer, TiktokenTokenizer


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    """Files are decoded in 4 KB blocks (1 MB normally): many block boundaries."""
    monkeypatch.setattr(corpus_files, "BLOCK_BYTES", 4096)


@pytest.fixture(scope="module")
def shakespeare(shared_data) -> str:
    return (shared_data / "tinyshakespeare.txt").read_text(encoding="utf-8")


def write_folder(tmp_path, shakespeare):
    """Three documents (one with non-ASCII text and Windows line ends) in a nested folder."""
    root = tmp_path / "corpus"
    (root / "b").mkdir(parents=True)
    parts = {
        root / "a.txt": shakespeare[:120_000],
        root / "b" / "c.md": "Ünïcödé — “quotes” ✓ 日本語のテキスト.\n" * 800,
        root / "d.txt": shakespeare[120_000:260_000].replace("\n", "\r\n"),
    }
    for path, text in parts.items():
        path.write_bytes(text.encode("utf-8"))
    expected = DOCUMENT_SEPARATOR.join(
        [parts[root / "a.txt"], parts[root / "b" / "c.md"], parts[root / "d.txt"].replace(
            "\r\n", "\n")])
    return root, expected


@pytest.fixture(scope="module")
def gpt2(shared_data):
    return TiktokenTokenizer.from_file(shared_data / "gpt2.tiktoken")


@pytest.mark.parametrize("chunk_chars", [1, 97, 4096])
def test_a_streamed_folder_tokenizes_exactly_like_the_whole_text(tmp_path, shakespeare, gpt2,
                                                                 chunk_chars):
    root, text = write_folder(tmp_path, shakespeare)
    corpus = load_corpus(root)
    if chunk_chars == 1:  # one chunk per safe cut: slow, so on a slice of the corpus
        (tmp_path / "one.txt").write_text(text[:20_000], encoding="utf-8")
        corpus, text = load_corpus(tmp_path / "one.txt"), text[:20_000]
    tokenizers = [
        CharTokenizer.from_text(text),
        BPETokenizer.train(text[:50_000], 600, pattern="gpt2"),
        BPETokenizer.train(text[:50_000], 600, pattern="gpt4"),
        gpt2,
    ]
    for number, tok in enumerate(tokenizers):
        ids = tokenize_corpus(corpus, tok, cache_dir=tmp_path / f"cache{number}",
                              chunk_chars=chunk_chars)
        assert ids.tolist() == tok.encode(text, allowed_special="all"), tok.name
        assert "text" not in corpus.__dict__  # never held whole


def test_encode_chunk_is_encode_as_an_array(shakespeare, gpt2):
    text = shakespeare[:30_000] + DOCUMENT_SEPARATOR + "naïve ✓" + DOCUMENT_SEPARATOR
    for tok in (CharTokenizer.from_text(text), BPETokenizer.train(text, 400), gpt2):
        ids = encode_chunk(tok, text)
        assert ids.dtype == np.int64
        assert ids.tolist() == tok.encode(text, allowed_special="all"), tok.name
    chars = CharTokenizer.from_text("abc")
    assert encode_chunk(chars, "").tolist() == []
    with pytest.raises(TokenizerError, match="'é'.*position 2"):
        encode_chunk(chars, "abé")
    with pytest.raises(TokenizerError, match="U\\+10FFFF"):  # beyond the lookup table
        encode_chunk(chars, "ab\U0010ffff")


def test_opening_reports_bytes_read_from_the_start(tmp_path, shakespeare):
    root, _ = write_folder(tmp_path, shakespeare)
    total = sum(p.stat().st_size for p in root.rglob("*.*"))
    events: list[ReadProgress] = []
    load_corpus(root, progress=events.append)
    assert events[0] == ReadProgress(0, total)  # before the first block is read
    assert events[-1] == ReadProgress(total, total)
    assert len(events) > total // 4096  # one per block
    done = [e.done_bytes for e in events]
    assert done == sorted(done)


def test_tokenizing_reports_bytes_and_tokens_after_every_chunk(tmp_path, shakespeare):
    path = tmp_path / "s.txt"
    path.write_text(shakespeare[:40_000] + "✓✓✓\n", encoding="utf-8")
    corpus = load_corpus(path)
    events = []
    tokenize_corpus(corpus, CharTokenizer.from_text(corpus.text), cache_dir=tmp_path / "c",
                    progress=events.append, chunk_chars=1000)
    assert events[0].done_bytes == 0 and events[0].total_bytes == corpus.n_bytes
    assert events[-1].done_bytes == corpus.n_bytes == path.stat().st_size
    assert len(events) > 40
    assert all(a.done_bytes < b.done_bytes for a, b in zip(events, events[1:]))


def test_opening_can_be_cancelled(tmp_path, shakespeare):
    path = tmp_path / "s.txt"
    path.write_text(shakespeare[:100_000], encoding="utf-8")
    seen = []

    def progress(event):
        seen.append(event)
        if len(seen) == 3:
            cancel.set()

    cancel = threading.Event()
    with pytest.raises(Cancelled):
        load_corpus(path, progress=progress, cancel=cancel)
    assert seen[-1].done_bytes < seen[-1].total_bytes  # stopped early, not at the end


def test_memory_while_tokenizing_is_bounded_by_the_chunk_not_the_corpus(tmp_path, shakespeare):
    """Python's allocations (numpy's included) while a 2.2 MB file is tokenized in 8 KB chunks
    stay well below the file's size: neither the text nor all ids are ever held."""
    path = tmp_path / "big.txt"
    path.write_text(shakespeare * 2, encoding="utf-8")
    corpus = load_corpus(path)
    tok = CharTokenizer.from_chunks(corpus.iter_chunks())
    tracemalloc.start()
    try:
        tokenize_corpus(corpus, tok, cache_dir=tmp_path / "c", chunk_chars=8192)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < path.stat().st_size / 4, peak  # the text alone would be 4x this
