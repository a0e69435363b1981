"""gptstudio.core.net: the one way onto the network — against 127.0.0.1 only, never the internet.

The offline tests replace every way a socket could connect with a function that fails the test,
and check that corpora by name or URL and tiktoken's encodings all stop before one is opened.
"""

from __future__ import annotations

import dataclasses
import hashlib
import socket

import pytest

from gptstudio.core import net
from gptstudio.core.corpora import KNOWN_DOWNLOADS, download, download_known, resolve_corpus
from gptstudio.core.errors import DownloadError, TokenizerError
from gptstudio.core.tokenizers import TiktokenTokenizer, resolve_tokenizer
from tests.local_http import FileServer, closed_port, silent_server

BODY = b"one line of a corpus\n" * 5000  # 105,000 bytes: a few blocks
BODY_SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture(autouse=True)
def downloads_allowed(monkeypatch):
    """conftest.py switches downloads off for every test; tests here choose for themselves."""
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", "0")
    monkeypatch.setattr(net, "_reachable_memo", {})


@pytest.fixture
def server():
    s = FileServer()
    s.files["/corpus.txt"] = BODY
    yield s
    s.close()


@pytest.fixture
def no_sockets(monkeypatch):
    """Fail the test if anything looks up a name or opens a connection."""

    def refuse(*args, **kwargs):
        raise AssertionError("a socket was used while offline")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(net, "_probe", refuse)


def test_fetch_writes_the_file_and_reports_progress(server, tmp_path):
    events = []
    dest = tmp_path / "sub" / "corpus.txt"
    assert net.fetch(server.url + "/corpus.txt", dest, sha256=BODY_SHA,
                     progress=events.append) == dest
    assert dest.read_bytes() == BODY and sorted(p.name for p in dest.parent.iterdir()) == [
        "corpus.txt"]
    assert events[0] == net.DownloadProgress(0, len(BODY))
    assert events[-1] == net.DownloadProgress(len(BODY), len(BODY))


def test_fetch_replaces_an_existing_file(server, tmp_path):
    dest = tmp_path / "corpus.txt"
    dest.write_bytes(b"old")
    net.fetch(server.url + "/corpus.txt", dest, resume=False)
    assert dest.read_bytes() == BODY and [p.name for p in tmp_path.iterdir()] == ["corpus.txt"]


@pytest.mark.parametrize("resume", [True, False])
def test_checksum_mismatch_is_refused_and_nothing_is_left(server, tmp_path, resume):
    dest = tmp_path / "corpus.txt"
    with pytest.raises(DownloadError, match=f"sha256 is {BODY_SHA}, expected 0{{64}}"):
        net.fetch(server.url + "/corpus.txt", dest, sha256="0" * 64, resume=resume)
    assert list(tmp_path.iterdir()) == []


def test_checksum_mismatch_keeps_an_older_good_file(server, tmp_path):
    dest = tmp_path / "corpus.txt"
    dest.write_bytes(b"the previous version")
    with pytest.raises(DownloadError, match="not the expected one"):
        net.fetch(server.url + "/corpus.txt", dest, sha256="0" * 64)
    assert dest.read_bytes() == b"the previous version"


def test_a_server_that_never_answers_times_out(tmp_path):
    with silent_server() as url, pytest.raises(DownloadError, match="no answer in time"):
        net.fetch(url + "/corpus.txt", tmp_path / "corpus.txt", timeout=0.3)
    assert not (tmp_path / "corpus.txt").exists()


def test_without_resume_a_cut_off_download_leaves_no_temporary_file(server, tmp_path):
    server.cut_after = 50_000
    with pytest.raises(DownloadError, match="cut off after"):
        net.fetch(server.url + "/corpus.txt", tmp_path / "corpus.txt", resume=False)
    assert list(tmp_path.iterdir()) == []


def test_no_connection_says_what_to_do(tmp_path):
    dest = tmp_path / "x.txt"
    with pytest.raises(DownloadError, match="Check the internet connection, or place the file "
                                            f"at {dest} yourself"):
        net.fetch(f"http://127.0.0.1:{closed_port()}/x.txt", dest, timeout=2.0)


def test_only_http_urls(tmp_path):
    with pytest.raises(DownloadError, match="only http:// and https://"):
        net.fetch("ftp://example.org/x.txt", tmp_path / "x.txt")


@pytest.mark.parametrize(("value", "expected"), [
    ("", False), ("0", False), ("false", False), ("No", False),
    ("1", True), ("yes", True), ("true", True),
])
def test_the_offline_switch(monkeypatch, value, expected):
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", value)
    assert net.offline() is expected


def test_offline_fetch_says_what_to_do_and_touches_nothing(server, tmp_path, monkeypatch,
                                                           no_sockets):
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", "1")
    dest = tmp_path / "sub" / "corpus.txt"
    with pytest.raises(DownloadError) as info:
        net.fetch(server.url + "/corpus.txt", dest)
    message = str(info.value)
    assert "GPTSTUDIO_OFFLINE=1" in message and "Set GPTSTUDIO_OFFLINE=0" in message
    assert f"place the file at {dest} yourself" in message
    assert server.requests == [] and not dest.parent.exists()


def test_offline_blocks_every_download_before_a_socket_opens(server, tmp_path, monkeypatch,
                                                             no_sockets):
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", "1")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    url = server.url + "/corpus.txt"
    with pytest.raises(DownloadError, match="GPTSTUDIO_OFFLINE"):
        download(url, cache_dir=tmp_path)
    with pytest.raises(DownloadError, match="GPTSTUDIO_OFFLINE"):
        resolve_corpus(url)
    for name in KNOWN_DOWNLOADS:
        with pytest.raises(DownloadError, match="GPTSTUDIO_OFFLINE"):
            resolve_corpus(f"download:{name}")
    for name in ("gpt2", "cl100k_base", "o200k_base"):
        with pytest.raises(TokenizerError, match="GPTSTUDIO_OFFLINE"):
            TiktokenTokenizer.named(name)
        with pytest.raises(TokenizerError, match="GPTSTUDIO_OFFLINE"):
            resolve_tokenizer(name)
    assert server.requests == []
    assert not net.reachable("https://example.org/x.txt")


def test_offline_a_cached_download_still_loads(server, shared_data, monkeypatch):
    data = (shared_data / "the-verdict.txt").read_bytes()
    server.files["/the-verdict.txt"] = data
    known = dataclasses.replace(KNOWN_DOWNLOADS["the-verdict"],
                                url=server.url + "/the-verdict.txt")
    monkeypatch.setitem(KNOWN_DOWNLOADS, "the-verdict", known)
    download_known("the-verdict")  # online: fills the cache
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", "1")
    corpus = resolve_corpus("download:the-verdict")
    assert corpus.n_bytes == len(data) and len(server.requests) == 1


def test_reachable_probes_once_and_remembers(server, monkeypatch):
    probes = []
    real_probe = net._probe
    monkeypatch.setattr(net, "_probe", lambda *a: probes.append(a) or real_probe(*a))
    assert net.reachable(server.url + "/corpus.txt")
    assert net.reachable(server.url + "/other.txt")
    assert len(probes) == 1 and server.requests == []
    assert not net.reachable(f"http://127.0.0.1:{closed_port()}/x.txt", timeout=1.0)
