"""The one place GPT Studio talks to the network: a checked, cancellable, atomic file fetch.

Everything that downloads (corpora by name or URL, tiktoken's named encodings) calls `fetch`, so
one set of rules holds for all of them:

  * `GPTSTUDIO_OFFLINE=1` stops every download before a socket is opened, with a message saying
    what to do instead (set `GPTSTUDIO_OFFLINE=0`, or place the file where it is wanted).
  * A short `timeout` bounds the name lookup, the connection and each read, so an offline machine
    fails in seconds with a message saying so. (A socket timeout does not cover DNS, so the
    lookup runs in a daemon thread that we stop waiting for.) Proxies from the environment are
    used, except for loopback addresses.
  * Bytes stream into a temporary file in the destination's folder. Only a complete file whose
    sha256 matches (when one is given) is fsynced and moved over the destination with
    `os.replace` (see `atomic.py`), so the destination is never a half or a wrong file. A
    checksum mismatch deletes the temporary file and raises `DownloadError` with both digests.
  * With `resume` (the default) the temporary file is `<name>.part`: a failed or cancelled
    download keeps it, and the next call asks for the rest with `Range: bytes=N-`. A server that
    ignores the range (status 200) sends the file from the start; one that says the range is
    unsatisfiable (416) makes us start afresh. Without `resume` the temporary file has a
    per-process name and is removed on any failure.
  * `progress` receives `DownloadProgress(done_bytes, total_bytes)` once at the start and after
    every block; `cancel`, a `threading.Event`, is checked between blocks and raises `Cancelled`.

`reachable(url)` answers "could a download start now?" within a couple of seconds (no at once when
offline), for menus that say which downloads are possible.

Left out: caches and what the bytes mean (`corpora/download.py`, `tokenizers/tiktoken_named.py`).
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import os
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gptstudio.core.atomic import fsync_dir, temp_name
from gptstudio.core.errors import Cancelled, DownloadError

OFFLINE_ENV = "GPTSTUDIO_OFFLINE"
BLOCK_BYTES = 64 * 1024
PROBE_TIMEOUT = 2.0  # seconds `reachable` waits for a TCP connection
PROBE_MEMORY_S = 30.0  # how long a probe's answer is remembered (menus ask once per item)


@dataclass(frozen=True)
class DownloadProgress:
    """Bytes on disk so far (a resumed download starts above 0) and the full size if known."""

    done_bytes: int
    total_bytes: int | None


# -- the offline switch ----------------------------------------------------------------------
def offline() -> bool:
    """True when `GPTSTUDIO_OFFLINE` is set to anything but "", "0", "false" or "no"."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def check_online(what: str, *, place_at: str | os.PathLike[str] | None = None) -> None:
    """Raise `DownloadError` if downloads are switched off; `what` names what would be fetched.

    `place_at` is where the file is wanted, for the message (a person can put it there).
    """
    if not offline():
        return
    value = os.environ.get(OFFLINE_ENV, "").strip()
    instead = f", or place the file at {place_at} yourself" if place_at is not None else ""
    raise DownloadError(
        f"Downloads are switched off ({OFFLINE_ENV}={value}), so {what} was not downloaded. "
        f"Set {OFFLINE_ENV}=0 to allow downloads{instead}."
    )


def parse_url(url: str) -> urllib.parse.SplitResult:
    """The parts of an http(s) URL; `DownloadError` for any other kind."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise DownloadError(f"Cannot download {url!r}: only http:// and https:// URLs work.")
    return parsed


# -- fetching --------------------------------------------------------------------------------
def fetch(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    timeout: float = 10.0,
    progress: Callable[[DownloadProgress], None] | None = None,
    cancel: threading.Event | None = None,
    resume: bool = True,
) -> Path:
    """Download `url` to `dest` (atomically replacing it) and return `dest` as a Path.

    Always downloads: caching is the caller's business. Raises `DownloadError` (offline switch,
    no connection, HTTP error, cut off, checksum mismatch) or `Cancelled`; see the module
    docstring for what is left on disk in each case.
    """
    host = parse_url(url).hostname or ""
    dest = Path(dest)
    check_online(url, place_at=dest)
    expected = sha256.lower() if sha256 else None
    dest.parent.mkdir(parents=True, exist_ok=True)
    # A fixed name can be found again by the next call; a per-process one never collides.
    tmp = dest.with_name(dest.name + ".part" if resume else temp_name(dest.name))
    transfer = _Transfer(url, host, dest, tmp, timeout, progress, cancel, resume)
    try:
        _stream(transfer)
    except BaseException:
        if not resume:
            tmp.unlink(missing_ok=True)
        raise

    actual = file_sha256(tmp) if expected is not None else None
    if actual != expected:
        tmp.unlink(missing_ok=True)
        raise DownloadError(
            f"The file downloaded from {url} is not the expected one: its sha256 is {actual}, "
            f"expected {expected}. It was deleted; try again later or check the URL."
        )
    os.replace(tmp, dest)
    fsync_dir(dest.parent)
    return dest


@dataclass(frozen=True)
class _Transfer:
    """One call of `fetch`: what to get, where the bytes go, and how to report."""

    url: str
    host: str
    dest: Path
    tmp: Path
    timeout: float
    progress: Callable[[DownloadProgress], None] | None
    cancel: threading.Event | None
    resume: bool


def _stream(t: _Transfer) -> None:
    """Write the body of the URL into `t.tmp`, continuing from its length when resuming."""
    have = t.tmp.stat().st_size if t.resume and t.tmp.exists() else 0
    request = urllib.request.Request(t.url, headers={"User-Agent": "gptstudio"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    _look_up_host(t)
    try:
        response = _opener_for(t.host).open(request, timeout=t.timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # our partial file does not fit the server's: start over
            exc.close()
            t.tmp.unlink()
            return _stream(t)
        raise DownloadError(f"Download of {t.url} failed: HTTP {exc.code} {exc.reason}.") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _no_connection(t, exc) from None

    with response:
        if have and response.status == 206 and _range_start(response) == have:
            mode = "ab"
        else:  # a fresh download, or the server ignored our range: start from byte 0
            mode, have = "wb", 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        done = have
        with t.tmp.open(mode) as out:
            if t.progress:
                t.progress(DownloadProgress(done, total))
            while True:
                if t.cancel is not None and t.cancel.is_set():
                    later = "; it can be resumed" if t.resume else ""
                    raise Cancelled(f"The download of {t.url} was cancelled{later}.")
                try:
                    block = response.read1(BLOCK_BYTES)  # what has arrived, up to a block
                except (OSError, http.client.HTTPException) as exc:  # e.g. cut off midway
                    raise DownloadError(
                        f"The download of {t.url} was cut off after {done} bytes "
                        f"({_describe(exc)}); try again to resume it."
                    ) from None
                if not block:
                    break
                out.write(block)
                done += len(block)
                if t.progress:
                    t.progress(DownloadProgress(done, total))
            out.flush()
            os.fsync(out.fileno())
    if total is not None and done < total:
        raise DownloadError(
            f"The download of {t.url} was cut off after {done} of {total} bytes; try again to "
            f"resume it."
        )


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 hex digest of a file, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- is a download possible now? ---------------------------------------------------------------
_reachable_memo: dict[tuple[str, int], tuple[float, bool]] = {}


def reachable(url: str, *, timeout: float = PROBE_TIMEOUT) -> bool:
    """Whether a download of `url` could start now: a TCP connection to its server (or to the
    proxy for it) opens within `timeout`. False at once when offline; answers are remembered
    for PROBE_MEMORY_S seconds."""
    if offline():
        return False
    parsed = parse_url(url)
    host, port = parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)
    proxy = urllib.request.getproxies().get(parsed.scheme)
    if proxy and not _is_loopback(host) and not urllib.request.proxy_bypass(host):
        proxied = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        host, port = proxied.hostname or "", proxied.port or 80
    now = time.monotonic()
    remembered = _reachable_memo.get((host, port))
    if remembered is not None and now - remembered[0] < PROBE_MEMORY_S:
        return remembered[1]
    answer = _probe(host, port, timeout)
    _reachable_memo[(host, port)] = (now, answer)
    return answer


def _probe(host: str, port: int, timeout: float) -> bool:
    """True if a TCP connection to host:port opens within `timeout`."""
    result: list[bool] = []

    def connect() -> None:  # in a thread, because the name lookup itself has no timeout
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=connect, name="gptstudio-probe", daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return bool(result and result[0])


# -- helpers -----------------------------------------------------------------------------------
def _look_up_host(t: _Transfer) -> None:
    """Resolve the host name within the timeout: the socket timeout does not cover DNS lookups."""
    if _is_loopback(t.host) or _is_ip_address(t.host):
        return
    scheme = urllib.parse.urlsplit(t.url).scheme
    if urllib.request.getproxies().get(scheme) and not urllib.request.proxy_bypass(t.host):
        return  # the proxy looks the name up, and we may not be able to
    outcome: list[OSError | None] = []

    def look_up() -> None:
        try:
            socket.getaddrinfo(t.host, None)
            outcome.append(None)
        except OSError as exc:  # socket.gaierror: no network, or no such host
            outcome.append(exc)

    # A daemon thread, so a resolver that hangs for a minute cannot hold the caller (or exit).
    thread = threading.Thread(target=look_up, name="gptstudio-dns", daemon=True)
    thread.start()
    thread.join(t.timeout)
    if not outcome:
        raise _no_connection(t, TimeoutError())
    if outcome[0] is not None:
        raise _no_connection(t, outcome[0])


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _opener_for(host: str) -> urllib.request.OpenerDirector:
    # A proxy can never reach our own loopback interface: talk to it directly.
    if _is_loopback(host):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def _no_connection(t: _Transfer, exc: BaseException) -> DownloadError:
    return DownloadError(
        f"Could not download {t.url}: {_describe(exc)}. Check the internet connection, or place "
        f"the file at {t.dest} yourself."
    )


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc  # URLError wraps the socket error
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "no answer in time"
    if isinstance(reason, http.client.IncompleteRead):
        return "the server closed the connection early"
    return str(reason) or type(reason).__name__


def _range_start(response: http.client.HTTPResponse) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match[1]) if match else None
