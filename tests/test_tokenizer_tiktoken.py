"""tiktoken's named encodings and .tiktoken rank files — never touching the internet.

Downloads are tested against a server on 127.0.0.1 that stands in for OpenAI's: the table entry
is pointed at it, and any connection to another host fails the test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import socket
import threading

import pytest
import tiktoken
import tiktoken_ext.openai_public as openai_public

from gptstudio.core import net
from gptstudio.core.errors import Cancelled, TokenizerError
from gptstudio.core.tokenizers import (
    ENDOFTEXT,
    NAMED_ENCODINGS,
    PATTERNS,
    BPETokenizer,
    TiktokenTokenizer,
    named_encoding_status,
    named_encoding_statuses,
    tiktoken_named,
)
from gptstudio.core.tokenizers.tiktoken_named import cache_path, format_rank_file
from tests.local_http import FileServer, closed_port

R50K_URL = "https://openaipublic.blob.core.windows.net/encodings/r50k_base.tiktoken"


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """A connection anywhere but 127.0.0.1 fails the test at once; downloads are allowed."""
    create_connection, getaddrinfo = socket.create_connection, socket.getaddrinfo

    def local_connection(address, *args, **kwargs):
        if address[0] != "127.0.0.1":
            raise AssertionError(f"a test tried to reach {address[0]}")
        return create_connection(address, *args, **kwargs)

    def local_lookup(host, *args, **kwargs):
        if host != "127.0.0.1":
            raise AssertionError(f"a test tried to look up {host}")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", local_connection)
    monkeypatch.setattr(socket, "getaddrinfo", local_lookup)
    monkeypatch.setattr(net, "_reachable_memo", {})
    monkeypatch.setattr(tiktoken_named, "_encodings", {})
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", "0")
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


@pytest.fixture()
def openai_at_home(monkeypatch, shared_data):
    """A local server standing in for OpenAI's, serving r50k_base; the table points at it."""
    server = FileServer()
    server.files["/encodings/r50k_base.tiktoken"] = (shared_data / "gpt2.tiktoken").read_bytes()
    local = dataclasses.replace(NAMED_ENCODINGS["r50k_base"],
                                url=server.url + "/encodings/r50k_base.tiktoken")
    for name in ("gpt2", "r50k_base"):
        monkeypatch.setitem(NAMED_ENCODINGS, name, local)
    yield server
    server.close()


def test_unreachable_and_uncached_fails_fast_naming_the_cache_and_the_file_option(
        empty_cache, monkeypatch):
    for name in ("gpt2", "cl100k_base", "o200k_base"):
        dead = dataclasses.replace(NAMED_ENCODINGS[name],
                                   url=f"http://127.0.0.1:{closed_port()}/{name}.tiktoken")
        monkeypatch.setitem(NAMED_ENCODINGS, name, dead)
        with pytest.raises(TokenizerError) as info:
            TiktokenTokenizer.named(name)
        message = str(info.value)
        assert "TIKTOKEN_CACHE_DIR" in message and str(empty_cache) in message
        assert ".tiktoken" in message and "Could not download" in message
        available, reason = named_encoding_status(name)
        assert not available and "cannot be reached" in reason
        assert "TIKTOKEN_CACHE_DIR" in reason and ".tiktoken" in reason
    assert list(empty_cache.iterdir()) == []


def test_offline_switch_means_no_network_attempt_at_all(empty_cache, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to use the network")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", "1")
    with pytest.raises(TokenizerError, match="GPTSTUDIO_OFFLINE=0") as info:
        TiktokenTokenizer.named("cl100k_base")
    assert str(cache_path(NAMED_ENCODINGS["cl100k_base"])) in str(info.value)  # place it here
    for name, (available, reason) in named_encoding_statuses().items():
        assert not available and "GPTSTUDIO_OFFLINE" in reason, name
    assert set(named_encoding_statuses()) == {"gpt2", "cl100k_base", "o200k_base"}


def test_a_cached_encoding_is_found_and_used_without_network(gpt2_cache, monkeypatch):
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", "1")  # a cached file needs no download
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


def test_download_checks_the_hash_and_fills_tiktokens_cache(empty_cache, openai_at_home):
    events = []
    tok = TiktokenTokenizer.named("r50k_base", progress=events.append)
    assert tok.encode("Hello world") == [15496, 995]
    assert events[-1].done_bytes == events[-1].total_bytes > 0
    info = NAMED_ENCODINGS["r50k_base"]
    assert cache_path(info).is_file()  # named by the sha1 of the URL, as tiktoken names it
    assert [p.name for p in empty_cache.iterdir()] == [hashlib.sha1(info.url.encode()).hexdigest()]
    TiktokenTokenizer.named("gpt2")  # now cached: no second download
    assert len(openai_at_home.requests) == 1


def test_a_download_with_the_wrong_checksum_is_refused(empty_cache, openai_at_home):
    openai_at_home.files["/encodings/r50k_base.tiktoken"] = b"IQ== 0\n"
    with pytest.raises(TokenizerError, match="sha256 is"):
        TiktokenTokenizer.named("gpt2")
    assert list(empty_cache.iterdir()) == []


def test_a_download_can_be_cancelled_and_resumes(empty_cache, openai_at_home):
    cancel = threading.Event()

    def stop_after_the_first_block(event):
        if event.done_bytes > 0:
            cancel.set()

    with pytest.raises(Cancelled):
        TiktokenTokenizer.named("gpt2", progress=stop_after_the_first_block, cancel=cancel)
    assert named_encoding_status("gpt2")[0]  # not cached, but the server answers
    assert TiktokenTokenizer.named("gpt2").vocab_size == 50257
    assert openai_at_home.requests[-1]["range"] is not None  # resumed


def test_status_says_a_reachable_encoding_will_be_downloaded(empty_cache, openai_at_home,
                                                             monkeypatch):
    probes = []
    real_probe = net._probe
    monkeypatch.setattr(net, "_probe", lambda *a: probes.append(a[:2]) or real_probe(*a))
    available, reason = named_encoding_status("gpt2")
    assert available and "will be downloaded" in reason
    named_encoding_status("r50k_base")
    assert len(probes) == 1  # remembered, asked once
    assert openai_at_home.requests == []  # a probe opens a connection, it fetches nothing


def test_empty_cache_dir_turns_the_cache_off(monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")
    assert named_encoding_status("gpt2")[0] is False
    with pytest.raises(TokenizerError, match="caching off"):
        TiktokenTokenizer.named("gpt2")


def test_named_encoding_matches_tiktokens_own(gpt2_cache, shared_data):
    ours = TiktokenTokenizer.named("gpt2")
    # tiktoken's own "gpt2" reads other files (vocab.bpe, encoder.json); its r50k_base reads
    # the cached rank file, so it needs no network here.
    theirs = tiktoken.get_encoding("r50k_base")
    text = (shared_data / "the-verdict.txt").read_text(encoding="utf-8")
    assert ours.encode(text) == theirs.encode_ordinary(text)
    assert ours.vocab_size == theirs.n_vocab and ours.eot_id == theirs.eot_token


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
    with pytest.raises(TokenizerError, match="is missing"):
        TiktokenTokenizer.from_file(tmp_path / "nope.tiktoken")


def test_a_rank_file_given_by_a_relative_path_is_found_from_any_folder(shared_data, tmp_path,
                                                                          monkeypatch):
    import shutil

    from gptstudio.core.tokenizers import load_tokenizer

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(shared_data / "gpt2.tiktoken", work / "gpt2.tiktoken")
    monkeypatch.chdir(work)
    tok = TiktokenTokenizer.from_file("gpt2.tiktoken")  # relative, as typed on a command line
    tok.save(tmp_path / "saved.json")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    again = load_tokenizer(tmp_path / "saved.json")
    assert again.encode("Hello world") == tok.encode("Hello world")
    assert again.fingerprint() == tok.fingerprint()
    (work / "gpt2.tiktoken").rename(work / "moved.tiktoken")
    with pytest.raises(TokenizerError, match=r"gpt2\.tiktoken, which is not there.*moved"):
        load_tokenizer(tmp_path / "saved.json")
