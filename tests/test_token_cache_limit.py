"""The token cache is bounded: least recently used caches go once it outgrows its limit, a
cache used again counts as recent, and it can be cleared."""

from __future__ import annotations

import os

import pytest

from gptstudio.core.corpora import Corpus
from gptstudio.core.data.token_cache import (
    cache_limit_bytes, clear_token_cache, prune_token_cache, token_cache_entries,
    tokenize_corpus,
)
from gptstudio.core.errors import DatasetError
from gptstudio.core.tokenizers import CharTokenizer


def corpus(name: str, n: int) -> Corpus:
    return Corpus(name, name, text=(name + " abc ") * n)


def test_least_recently_used_caches_go_first(tmp_path, monkeypatch):
    from gptstudio.core.data.token_cache import cache_key

    tok = CharTokenizer.from_text("abcdefghijklmnopqrstuvwxyz ")
    folder = tmp_path / "tokens"
    a, b, c = corpus("a", 100_000), corpus("b", 100_000), corpus("c", 100_000)
    keys = {name: cache_key(item, tok) for name, item in zip("abc", (a, b, c))}
    for when, item in enumerate((a, b)):
        tokenize_corpus(item, tok, cache_dir=folder)
        os.utime(folder / f"{cache_key(item, tok)}.json", (1_000 + when, 1_000 + when))
    tokenize_corpus(a, tok, cache_dir=folder)  # used again: now "b" is the least recent
    size = max(e.n_bytes for e in token_cache_entries(folder))
    monkeypatch.setenv("GPTSTUDIO_TOKEN_CACHE_MB", str(2 * size // (1 << 20) + 1))
    assert 2 * size <= cache_limit_bytes() < 3 * size  # room for two of the three
    tokenize_corpus(c, tok, cache_dir=folder)
    assert {e.key for e in token_cache_entries(folder)} == {keys["a"], keys["c"]}
    assert not (folder / f"{keys['b']}.bin").exists()
    assert tokenize_corpus(b, tok, cache_dir=folder).shape[0] == len(b.text)  # rebuilt on use


def test_prune_keeps_what_fits_and_what_it_is_told_to(tmp_path):
    tok = CharTokenizer.from_text("abcdefghijklmnopqrstuvwxyz ")
    folder = tmp_path / "tokens"
    for name in ("a", "b", "c"):
        tokenize_corpus(corpus(name, 1000), tok, cache_dir=folder)
    entries = token_cache_entries(folder)
    total = sum(e.n_bytes for e in entries)
    assert prune_token_cache(folder, limit_bytes=total) == []
    oldest = entries[0].key
    removed = prune_token_cache(folder, limit_bytes=0, keep=(oldest,))
    assert oldest not in removed and len(removed) == 2
    assert [e.key for e in token_cache_entries(folder)] == [oldest]
    assert clear_token_cache(folder) > 0 and token_cache_entries(folder) == []


def test_the_limit_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("GPTSTUDIO_TOKEN_CACHE_MB", "2")
    assert cache_limit_bytes() == 2 << 20
    monkeypatch.setenv("GPTSTUDIO_TOKEN_CACHE_MB", "lots")
    with pytest.raises(DatasetError, match="whole number of megabytes"):
        cache_limit_bytes()
