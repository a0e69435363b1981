"""Downloads against a small HTTP server on 127.0.0.1 that this test starts (never the internet)."""

from __future__ import annotations

import hashlib
import socket
import threading

import pytest

from gptstudio.core.corpora import (
    KNOWN_DOWNLOADS,
    DownloadProgress,
    ReadProgress,
    download,
    resolve_corpus,
)
from gptstudio.core.errors import Cancelled, DownloadError
from tests.local_http import FileServer, closed_port

BODY = bytes(range(256)) * 1000  # 256,000 bytes: several 64 KiB blocks
BODY_SHA = hashlib.sha256(BODY).hexdigest()


@pytest.fixture(autouse=True)
def downloads_allowed(monkeypatch):
    """conftest.py switches downloads off for every test; these ones talk to 127.0.0.1."""
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", "0")


@pytest.fixture
def server():
    s = FileServer()
    s.files["/data/corpus.txt"] = BODY
    yield s
    s.close()


def cached_path(tmp_path, url, name="corpus.txt"):
    return tmp_path / hashlib.sha256(url.encode()).hexdigest()[:16] / name


def test_download_checks_sha_reports_progress_and_caches(server, tmp_path):
    url = server.url + "/data/corpus.txt"
    events: list[DownloadProgress] = []
    path = download(url, sha256=BODY_SHA, cache_dir=tmp_path, progress=events.append)
    assert path == cached_path(tmp_path, url)
    assert path.read_bytes() == BODY
    assert events[0] == DownloadProgress(0, len(BODY))
    assert events[-1] == DownloadProgress(len(BODY), len(BODY))
    done = [e.done_bytes for e in events]
    assert done == sorted(done) and len(events) >= 4
    assert not list(path.parent.glob("*.part"))

    again = download(url, sha256=BODY_SHA, cache_dir=tmp_path)
    assert again == path and len(server.requests) == 1  # served from the cache


def test_checksum_mismatch_is_an_error_and_leaves_nothing(server, tmp_path):
    url = server.url + "/data/corpus.txt"
    wrong = "0" * 64
    with pytest.raises(DownloadError, match=f"sha256 is {BODY_SHA}, expected {wrong}"):
        download(url, sha256=wrong, cache_dir=tmp_path)
    assert list(cached_path(tmp_path, url).parent.iterdir()) == []


def test_corrupt_cached_file_is_fetched_again(server, tmp_path):
    url = server.url + "/data/corpus.txt"
    path = download(url, cache_dir=tmp_path)
    path.write_bytes(b"tampered")
    assert download(url, sha256=BODY_SHA, cache_dir=tmp_path).read_bytes() == BODY
    assert len(server.requests) == 2


def test_partial_download_is_resumed_with_a_range_request(server, tmp_path):
    url = server.url + "/data/corpus.txt"
    part = cached_path(tmp_path, url).with_name("corpus.txt.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(BODY[:100_000])
    events = []
    path = download(url, sha256=BODY_SHA, cache_dir=tmp_path, progress=events.append)
    assert path.read_bytes() == BODY
    assert server.requests == [{"path": "/data/corpus.txt", "range": "bytes=100000-"}]
    assert events[0] == DownloadProgress(100_000, len(BODY))


def test_server_ignoring_the_range_gets_a_fresh_download(server, tmp_path):
    server.honour_range = False
    url = server.url + "/data/corpus.txt"
    part = cached_path(tmp_path, url).with_name("corpus.txt.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"stale bytes that must not stay in front")
    assert download(url, sha256=BODY_SHA, cache_dir=tmp_path).read_bytes() == BODY


def test_unsatisfiable_range_restarts_from_scratch(server, tmp_path):
    url = server.url + "/data/corpus.txt"
    part = cached_path(tmp_path, url).with_name("corpus.txt.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * (len(BODY) + 10))  # longer than the file: not a prefix of it
    assert download(url, sha256=BODY_SHA, cache_dir=tmp_path).read_bytes() == BODY
    assert [r["range"] for r in server.requests] == [f"bytes={len(BODY) + 10}-", None]


def test_cancel_keeps_the_part_file_and_a_later_call_resumes(server, tmp_path):
    url = server.url + "/data/corpus.txt"
    cancel = threading.Event()

    def on_progress(event):
        if event.done_bytes > 0:
            cancel.set()  # the user presses Stop after the first block

    with pytest.raises(Cancelled, match="cancelled"):
        download(url, cache_dir=tmp_path, progress=on_progress, cancel=cancel)
    part = cached_path(tmp_path, url).with_name("corpus.txt.part")
    have = part.stat().st_size
    assert 0 < have < len(BODY)
    assert download(url, sha256=BODY_SHA, cache_dir=tmp_path).read_bytes() == BODY
    assert server.requests[-1]["range"] == f"bytes={have}-"


def test_connection_cut_midway_is_an_error_and_resumable(server, tmp_path):
    url = server.url + "/data/corpus.txt"
    server.cut_after = 70_000
    with pytest.raises(DownloadError, match="cut off after .* try again to resume"):
        download(url, cache_dir=tmp_path)
    server.cut_after = None
    assert download(url, sha256=BODY_SHA, cache_dir=tmp_path).read_bytes() == BODY
    assert server.requests[-1]["range"] is not None


def test_server_going_silent_midway_times_out_with_a_clear_error(server, tmp_path):
    url = server.url + "/data/corpus.txt"
    server.stall_after = 10_000
    with pytest.raises(DownloadError, match="cut off after 10000 bytes .no answer in time."):
        download(url, cache_dir=tmp_path, timeout=0.3)


def test_http_error(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404"):
        download(server.url + "/missing.txt", cache_dir=tmp_path)


def test_no_connection_fails_with_a_clear_message(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/x.txt"
    with pytest.raises(DownloadError, match="Could not download .*Check the internet connection"):
        download(url, cache_dir=tmp_path, timeout=2.0)


@pytest.fixture
def no_proxy(monkeypatch):
    """No proxy from the environment: the name lookup below must be ours, not a proxy's."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def test_host_name_that_cannot_be_looked_up(tmp_path, monkeypatch, no_proxy):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(DownloadError, match="name resolution. Check the internet connection"):
        download("https://example.invalid/x.txt", cache_dir=tmp_path)


def test_hanging_name_lookup_is_cut_short_by_the_timeout(tmp_path, monkeypatch, no_proxy):
    release = threading.Event()

    def hanging_dns(*args, **kwargs):  # a resolver that never answers while offline
        release.wait()
        raise socket.gaierror(-3, "released")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_dns)
    try:
        with pytest.raises(DownloadError, match="no answer in time"):
            download("https://example.invalid/x.txt", cache_dir=tmp_path, timeout=0.2)
    finally:
        release.set()


def test_only_http_urls(tmp_path):
    with pytest.raises(DownloadError, match="only http:// and https://"):
        download("file:///etc/passwd", cache_dir=tmp_path)


def test_known_downloads_match_the_real_files(shared_data):
    for key, filename in [("tinyshakespeare", "tinyshakespeare.txt"),
                          ("the-verdict", "the-verdict.txt")]:
        data = (shared_data / filename).read_bytes()
        known = KNOWN_DOWNLOADS[key]
        assert known.sha256 == hashlib.sha256(data).hexdigest()
        assert known.size == len(data) and known.url.startswith("https://")


def test_resolve_known_corpus_and_url(server, shared_data, monkeypatch):
    # Point the catalogue entry at our server; everything else is the real path through the code.
    data = (shared_data / "the-verdict.txt").read_bytes()
    server.files["/the-verdict.txt"] = data
    known = KNOWN_DOWNLOADS["the-verdict"]
    monkeypatch.setitem(KNOWN_DOWNLOADS, "the-verdict",
                        known.__class__(known.name, server.url + "/the-verdict.txt",
                                        known.sha256, known.filename, known.size))
    events: list[DownloadProgress] = []
    corpus = resolve_corpus("download:the-verdict", progress=events.append)
    assert corpus.n_bytes == len(data) and corpus.name == "the-verdict"
    assert corpus.source == "download:the-verdict"  # the spec, so a run can name it again
    assert corpus.paths[0].name == "the-verdict.txt"
    downloads = [e for e in events if isinstance(e, DownloadProgress)]
    assert downloads[-1] == DownloadProgress(len(data), len(data))
    # then the downloaded file is opened (checked and measured), with its own progress
    assert events[-1] == ReadProgress(len(data), len(data))

    by_url = resolve_corpus(server.url + "/the-verdict.txt")
    assert by_url.text == corpus.text and by_url.source == server.url + "/the-verdict.txt"


def test_resolve_corpus_download_can_be_cancelled_then_resumed(server, monkeypatch):
    text = b"The fox looked down the well.\n" * 8000  # 240,000 bytes: several blocks
    server.files["/data/text.txt"] = text
    known = KNOWN_DOWNLOADS["the-verdict"]
    monkeypatch.setitem(KNOWN_DOWNLOADS, "the-verdict",
                        known.__class__(known.name, server.url + "/data/text.txt",
                                        hashlib.sha256(text).hexdigest(), "text.txt", len(text)))
    cancel = threading.Event()

    def on_progress(event):
        if event.done_bytes > 0:
            cancel.set()

    with pytest.raises(Cancelled, match="can be resumed"):
        resolve_corpus("download:the-verdict", progress=on_progress, cancel=cancel)
    cancel.clear()
    corpus = resolve_corpus("download:the-verdict", cancel=cancel)
    assert corpus.n_bytes == len(text) and corpus.source == "download:the-verdict"
    assert server.requests[-1]["range"] is not None
