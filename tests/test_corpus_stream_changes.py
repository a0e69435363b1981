"""A file that changes while a corpus is read is refused, so the corpus fingerprint — and the
token cache stored under it — always describes one version of the text (issue 16: "a file
that grows during the streaming re-read is not noticed; the token cache key then lies")."""

from __future__ import annotations

import os

import pytest

from gptstudio.core.corpora import load_corpus
from gptstudio.core.corpora import files as corpus_files
from gptstudio.core.data import tokenize_corpus
from gptstudio.core.errors import CorpusError
from gptstudio.core.tokenizers import CharTokenizer

TEXT = "".join(f"Line {i}: the fox ran.\nThe crow sang.\n" for i in range(3000))


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(corpus_files, "BLOCK_BYTES", 4096)


def cache_files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_file_that_grows_while_it_is_opened_is_refused(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text(TEXT, encoding="utf-8")

    def append_once(event):
        if event.done_bytes and not appended:
            appended.append(True)
            with path.open("a", encoding="utf-8") as f:
                f.write("a line written while the corpus was being read\n")

    appended: list[bool] = []
    with pytest.raises(CorpusError, match=r"log\.txt changed while it was being read"):
        load_corpus(path, progress=append_once)
    assert appended


def test_a_file_that_grows_during_tokenizing_leaves_no_cache(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text(TEXT, encoding="utf-8")
    corpus = load_corpus(path)
    tok = CharTokenizer.from_text(TEXT + "a new line")
    cache = tmp_path / "cache"

    def append_once(event):
        if event.done_chars and not appended:
            appended.append(True)
            with path.open("a", encoding="utf-8") as f:
                f.write("a new line\n" * 100)

    appended: list[bool] = []
    with pytest.raises(CorpusError, match="changed while it was being read"):
        tokenize_corpus(corpus, tok, cache_dir=cache, progress=append_once, chunk_chars=1000)
    assert appended
    assert not [name for name in cache_files(cache) if name.endswith((".bin", ".json"))]
    # Opened again, the grown file is a new corpus with its own fingerprint and cache.
    again = load_corpus(path)
    assert again.fingerprint() != corpus.fingerprint()
    assert len(tokenize_corpus(again, tok, cache_dir=cache)) == again.n_chars


def test_a_file_cut_short_while_it_is_read_is_refused(tmp_path):
    path = tmp_path / "log.txt"
    path.write_text(TEXT, encoding="utf-8")
    corpus = load_corpus(path)

    def truncate_once(event):
        if event.done_chars and not cut:
            cut.append(True)
            os.truncate(path, 10_000)

    cut: list[bool] = []
    with pytest.raises(CorpusError, match="changed while it was being read"):
        tokenize_corpus(corpus, CharTokenizer.from_text(TEXT), cache_dir=tmp_path / "c",
                        progress=truncate_once, chunk_chars=1000)


def test_same_size_rewrite_with_the_old_mtime_is_caught_by_the_hash(tmp_path):
    """Size and modification time cannot see this change; hashing while streaming does."""
    path = tmp_path / "story.txt"
    path.write_text(TEXT, encoding="utf-8")
    stat = path.stat()
    corpus = load_corpus(path)
    path.write_text(TEXT.replace("fox", "cat"), encoding="utf-8")  # same length
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    cache = tmp_path / "cache"
    with pytest.raises(CorpusError, match="not what it was when it was opened"):
        tokenize_corpus(corpus, CharTokenizer.from_text(TEXT + "c"), cache_dir=cache,
                        chunk_chars=1000)
    assert not [name for name in cache_files(cache) if name.endswith((".bin", ".json"))]


def test_an_unchanged_file_streams_without_complaint(tmp_path):
    path = tmp_path / "story.txt"
    path.write_text(TEXT, encoding="utf-8")
    corpus = load_corpus(path)
    assert "".join(corpus.iter_chunks(500)) == TEXT
    assert "".join(corpus.iter_chunks(500)) == TEXT  # and again


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_or_a_device_is_refused_before_it_is_read(tmp_path):
    """Opening one would block (a pipe) or never end (/dev/zero)."""
    folder = tmp_path / "texts"
    folder.mkdir()
    (folder / "a.txt").write_text("fine text\n", encoding="utf-8")
    os.mkfifo(folder / "b.txt")
    with pytest.raises(CorpusError, match=r"b\.txt is not a regular file"):
        load_corpus(folder)
    with pytest.raises(CorpusError, match="not a regular file"):
        load_corpus(folder / "b.txt")
    if os.path.exists("/dev/zero"):
        with pytest.raises(CorpusError, match="not a regular file"):
            load_corpus("/dev/zero")
