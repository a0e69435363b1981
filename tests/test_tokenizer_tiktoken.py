"""tiktoken's named encodings and .tiktoken rank files — without ever touching the network."""

from __future__ import annotations

import hashlib
import shutil
import socket

import pytest
import tiktoken_ext.openai_public as openai_public

from gptstudio.core.errors import TokenizerError
from gptstudio.core.tokenizers import (
    ENDOFTEXT,
    NAMED_ENCODINGS,
    PATTERNS,
    BPETokenizer,
    TiktokenTokenizer,
    named_encoding_status,
    tiktoken_named,
)
from gptstudio.core.tokenizers.tiktoken_named import cache_path, format_rank_file

R50K_URL = "https://openaipublic.blob.core.windows.net/encodings/r50k_base.tiktoken"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any network attempt fails the test at once; tests that allow a 'download' re-patch."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(tiktoken_named, "_fetch", refuse)
    monkeypatch.setattr(tiktoken_named, "_probe", refuse)
    monkeypatch.setattr(tiktoken_named, "_reachable_memo", {})
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.delenv("GPTSTUDIO_OFFLINE", raising=False)
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)


@pytest.fixture()
def empty_cache(tmp_path, monkeypatch):
    folder = tmp_path / "tiktoken-cache"
    folder.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(folder))
    return folder


@pytest.fixture()
def gpt2_cache(empty_cache, shared_data):
    """A tiktoken cache holding r50k_base, made from gpt2.tiktoken (the same file: its
    sha256 is the one tiktoken checks for r50k_base)."""
    name = hashlib.sha1(R50K_URL.encode()).hexdigest()
    shutil.copy(shared_data / "gpt2.tiktoken", empty_cache / name)
    return empty_cache


def test_our_table_matches_tiktokens_own_registry(monkeypatch):
    asked = {}

    def fake_load(url, expected_hash=None):
        asked["url"], asked["sha256"] = url, expected_hash
        return {}

    monkeypatch.setattr(openai_public, "load_tiktoken_bpe", fake_load)
    for name in ("r50k_base", "cl100k_base", "o200k_base"):
        spec = openai_public.ENCODING_CONSTRUCTORS[name]()
        ours = NAMED_ENCODINGS[name]
        assert (ours.url, ours.sha256) == (asked["url"], asked["sha256"])
        assert PATTERNS[ours.pattern] == spec["pat_str"]
        assert dict(ours.special_tokens) == spec["special_tokens"]


def test_offline_and_uncached_fails_fast_naming_the_cache_and_the_file_option(
        empty_cache, monkeypatch):
    attempts = []

    def offline(url, timeout):
        attempts.append(url)
        raise OSError("Name or service not known")

    monkeypatch.setattr(tiktoken_named, "_fetch", offline)
    monkeypatch.setattr(tiktoken_named, "_probe", lambda host, timeout: False)
    for name in ("gpt2", "cl100k_base", "o200k_base"):
        with pytest.raises(TokenizerError) as info:
            TiktokenTokenizer.named(name)
        message = str(info.value)
        assert "TIKTOKEN_CACHE_DIR" in message and str(empty_cache) in message
        assert ".tiktoken" in message and "download failed" in message
        available, reason = named_encoding_status(name)
        assert not available and "TIKTOKEN_CACHE_DIR" in reason and ".tiktoken" in reason
    assert len(attempts) == 3  # one quick attempt each, no retries


def test_offline_switch_means_no_network_attempt_at_all(empty_cache, monkeypatch):
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", "1")
    with pytest.raises(TokenizerError, match="GPTSTUDIO_OFFLINE"):
        TiktokenTokenizer.named("cl100k_base")  # the autouse fixture fails any network call
    available, reason = named_encoding_status("cl100k_base")
    assert not available and "GPTSTUDIO_OFFLINE" in reason


def test_a_cached_encoding_is_found_and_used_without_network(gpt2_cache):
    for name in ("gpt2", "r50k_base"):
        assert named_encoding_status(name) == (True, f"Cached in {gpt2_cache}.")
        tok = TiktokenTokenizer.named(name)
        assert tok.kind == "tiktoken" and tok.name == name
        assert tok.encode("Hello world") == [15496, 995]
        assert tok.encode_slow("Hello world") == [15496, 995]  # ranks read from the cache
        assert tok.vocab_size == 50257 and tok.eot_id == 50256
        assert tok.decode([15496, 995]) == "Hello world"


def test_a_corrupt_cached_file_is_not_used(empty_cache, monkeypatch):
    (empty_cache / hashlib.sha1(R50K_URL.encode()).hexdigest()).write_bytes(b"IQ== 0\n")
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", "1")
    assert named_encoding_status("gpt2")[0] is False
    with pytest.raises(TokenizerError, match="not cached"):
        TiktokenTokenizer.named("gpt2")


def test_download_checks_the_hash_and_fills_tiktokens_cache(empty_cache, shared_data,
                                                             monkeypatch):
    calls = []

    def fetch(url, timeout):
        calls.append((url, timeout))
        return (shared_data / "gpt2.tiktoken").read_bytes()

    monkeypatch.setattr(tiktoken_named, "_fetch", fetch)
    tok = TiktokenTokenizer.named("r50k_base")
    assert tok.encode("Hello world") == [15496, 995]
    assert calls == [(R50K_URL, tiktoken_named.DOWNLOAD_TIMEOUT)]
    assert cache_path(NAMED_ENCODINGS["r50k_base"]).is_file()
    assert [p.name for p in empty_cache.iterdir()] == [hashlib.sha1(R50K_URL.encode()).hexdigest()]
    TiktokenTokenizer.named("gpt2")  # now cached: no second download
    assert len(calls) == 1


def test_a_download_with_the_wrong_checksum_is_refused(empty_cache, monkeypatch):
    monkeypatch.setattr(tiktoken_named, "_fetch", lambda url, timeout: b"IQ== 0\n")
    with pytest.raises(TokenizerError, match="checksum"):
        TiktokenTokenizer.named("gpt2")
    assert list(empty_cache.iterdir()) == []


def test_status_says_a_reachable_encoding_will_be_downloaded(empty_cache, monkeypatch):
    probes = []
    monkeypatch.setattr(tiktoken_named, "_probe", lambda host, t: probes.append(host) or True)
    available, reason = named_encoding_status("o200k_base")
    assert available and "will be downloaded" in reason
    named_encoding_status("cl100k_base")
    assert probes == ["openaipublic.blob.core.windows.net"]  # remembered, asked once


def test_empty_cache_dir_turns_the_cache_off(monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    assert named_encoding_status("gpt2")[0] is False
    with pytest.raises(TokenizerError, match="caching off"):
        TiktokenTokenizer.named("gpt2")


def test_unknown_names_are_refused():
    assert named_encoding_status("gpt5") == (False, "Unknown encoding 'gpt5'.")
    with pytest.raises(TokenizerError, match="cl100k_base"):
        TiktokenTokenizer.named("gpt5")


def test_gpt2_rank_file_is_recognised(shared_data):
    tok = TiktokenTokenizer.from_file(shared_data / "gpt2.tiktoken")
    assert tok.name == "r50k_base (gpt2.tiktoken)" and tok.pattern == "gpt2"
    assert tok.special_tokens == {ENDOFTEXT: 50256}
    assert tok.encode("Hello world") == tok.encode_slow("Hello world") == [15496, 995]


def test_a_rank_file_of_our_own_bpe_encodes_like_it(tmp_path, shared_data):
    text = (shared_data / "the-verdict.txt").read_text(encoding="utf-8")
    ours = BPETokenizer.train(text, 400)
    path = tmp_path / "verdict.tiktoken"
    path.write_bytes(format_rank_file(ours.ranks))
    loaded = TiktokenTokenizer.from_file(path)
    assert loaded.pattern == "gpt2" and loaded.special_tokens == {ENDOFTEXT: 399}
    assert loaded.encode(text) == ours.encode(text) == loaded.encode_slow(text)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "holds no tokens"),
        (b"IQ== 0\nnot a rank line\n", "Line 2"),
        (b"IQ== 0\n!!!! 1\n", "Line 2"),
        (b"IQ== 0\nIQ== 1\n", "repeats"),
        (b"IQ== 0\nIg== 1\n", "256 single bytes"),
        (bytes(range(256)) * 4, "Line 1"),
    ],
)
def test_broken_rank_files_raise_clear_errors(tmp_path, content, message):
    path = tmp_path / "broken.tiktoken"
    path.write_bytes(content)
    with pytest.raises(TokenizerError, match=message):
        TiktokenTokenizer.from_file(path)


def test_missing_rank_file(tmp_path):
    with pytest.raises(TokenizerError, match="Cannot read"):
        TiktokenTokenizer.from_file(tmp_path / "nope.tiktoken")
