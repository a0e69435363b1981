"""Downloading well-known public corpora: cached, checksummed, resumable and cancellable.

`download(url)` fetches a file into the cache folder (`<cache>/downloads/<url hash>/<file name>`)
and returns its path; the next call returns the cached file without touching the network.

How it stays safe and honest:
  * Bytes go to `<file name>.part` first. Only a complete file whose sha256 matches is moved to the
    final name (fsync, then `os.replace`), so the cache never holds a half or a wrong file.
    A checksum mismatch deletes the `.part` file and raises `DownloadError` with both digests.
  * An interrupted or cancelled download leaves its `.part` file; the next attempt asks the
    server for the rest with an HTTP `Range: bytes=N-` request. A server that ignores the range
    (status 200) gets the file from the start; one that says the range is unsatisfiable (416)
    makes us start afresh.
  * A short `timeout` (for the name lookup, the connection and each read) makes an offline
    machine fail in seconds with a message saying so. Proxies from the environment are used,
    except for loopback addresses.
  * `progress` receives `DownloadProgress(done_bytes, total_bytes)` after every block (and once at
    the start); `cancel`, a `threading.Event`, is checked between blocks and raises `Cancelled`.

Left out: decoding the file as text (`load_corpus` does that), and any catalogue beyond
`KNOWN_DOWNLOADS`.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import os
import re
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptstudio import paths
from gptstudio.core.errors import Cancelled, DownloadError

BLOCK_BYTES = 64 * 1024


@dataclass(frozen=True)
class KnownCorpus:
    """A public corpus we know the exact bytes of."""

    name: str  # human label
    url: str
    sha256: str
    filename: str  # the name it gets in the cache
    size: int | None = None  # bytes, when known


KNOWN_DOWNLOADS: dict[str, KnownCorpus] = {
    "tinyshakespeare": KnownCorpus(
        name="Tiny Shakespeare",
        url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/"
        "input.txt",
        sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
        filename="tinyshakespeare.txt",
        size=1_115_394,
    ),
    "the-verdict": KnownCorpus(
        name='"The Verdict" (Edith Wharton, 1908)',
        url="https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main/ch02/"
        "01_main-chapter-code/the-verdict.txt",
        sha256="b41e41a68f0398a3154ae69e2e4c0e2694e17fe0d66730536837f1b01935b31f",
        filename="the-verdict.txt",
        size=20_479,
    ),
}


@dataclass(frozen=True)
class DownloadProgress:
    """Bytes on disk so far (a resumed download starts above 0) and the full size if known."""

    done_bytes: int
    total_bytes: int | None


def default_download_dir() -> Path:
    return paths.cache_dir() / "downloads"


def download(
    url: str,
    *,
    sha256: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[DownloadProgress], None] | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 10.0,
    filename: str | None = None,
) -> Path:
    """Fetch `url` into the cache (or return the cached copy) and return the file's path.

    With `sha256`, the file is checked (also a cached one: a corrupt cached file is fetched again).
    `filename` overrides the name taken from the URL. Raises `DownloadError` (offline, HTTP error,
    checksum mismatch) or `Cancelled`.
    """
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise DownloadError(f"Cannot download {url!r}: only http:// and https:// URLs work.")
    folder = Path(cache_dir) if cache_dir is not None else default_download_dir()
    folder = folder / hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    target = folder / _safe_filename(filename or Path(parsed.path).name)
    expected = sha256.lower() if sha256 else None

    if target.exists():
        if expected is None or _file_sha256(target) == expected:
            return target
        target.unlink()  # corrupt or replaced: fetch it again
    folder.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    _fetch(url, part, progress, cancel, timeout, parsed.hostname or "")

    actual = _file_sha256(part) if expected is not None else None
    if actual != expected:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"The file downloaded from {url} is not the expected one: its sha256 is {actual}, "
            f"expected {expected}. It was deleted; try again later or check the URL."
        )
    os.replace(part, target)
    _fsync_dir(folder)
    return target


def download_known(name: str, **kwargs: Any) -> Path:
    """`download` one of `KNOWN_DOWNLOADS` by key, with its checksum and file name."""
    if name not in KNOWN_DOWNLOADS:
        raise DownloadError(
            f"Unknown corpus {name!r}; known ones: {', '.join(sorted(KNOWN_DOWNLOADS))}."
        )
    known = KNOWN_DOWNLOADS[name]
    return download(known.url, sha256=known.sha256, filename=known.filename, **kwargs)


def _fetch(
    url: str,
    part: Path,
    progress: Callable[[DownloadProgress], None] | None,
    cancel: threading.Event | None,
    timeout: float,
    host: str,
) -> None:
    """Write the body of `url` into `part`, resuming from its current length when possible."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "gptstudio"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    opener = _opener_for(host)
    _look_up_host(url, host, timeout)
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # our partial file does not fit the server's: start over
            exc.close()
            part.unlink()
            return _fetch(url, part, progress, cancel, timeout, host)
        raise DownloadError(f"Download of {url} failed: HTTP {exc.code} {exc.reason}.") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _offline_error(url, exc) from None

    with response:
        if have and response.status == 206 and _range_start(response) == have:
            mode = "ab"
        else:  # a fresh download, or the server ignored our range: start from byte 0
            mode, have = "wb", 0
        length = response.headers.get("Content-Length")
        total = have + int(length) if length and length.isdigit() else None
        done = have
        with part.open(mode) as out:
            if progress:
                progress(DownloadProgress(done, total))
            while True:
                if cancel is not None and cancel.is_set():
                    raise Cancelled(f"The download of {url} was cancelled; it can be resumed.")
                try:
                    block = response.read1(BLOCK_BYTES)  # what has arrived, up to a block
                except (OSError, http.client.HTTPException) as exc:  # e.g. cut off midway
                    raise DownloadError(
                        f"The download of {url} was cut off after {done} bytes "
                        f"({_describe(exc)}); try again to resume it."
                    ) from None
                if not block:
                    break
                out.write(block)
                done += len(block)
                if progress:
                    progress(DownloadProgress(done, total))
            out.flush()
            os.fsync(out.fileno())
    if total is not None and done < total:
        raise DownloadError(
            f"The download of {url} was cut off after {done} of {total} bytes; try again to "
            f"resume it."
        )


def _look_up_host(url: str, host: str, timeout: float) -> None:
    """Resolve the host name within `timeout`: the socket timeout does not cover DNS lookups."""
    if host == "localhost" or _is_ip_address(host):
        return
    scheme = urllib.parse.urlsplit(url).scheme
    if urllib.request.getproxies().get(scheme) and not urllib.request.proxy_bypass(host):
        return  # the proxy looks the name up, and we may not be able to
    outcome: list[OSError | None] = []

    def look_up() -> None:
        try:
            socket.getaddrinfo(host, None)
            outcome.append(None)
        except OSError as exc:  # socket.gaierror: no network, or no such host
            outcome.append(exc)

    # A daemon thread, so a resolver that hangs for a minute cannot hold the caller (or exit).
    thread = threading.Thread(target=look_up, name="gptstudio-dns", daemon=True)
    thread.start()
    thread.join(timeout)
    if not outcome:
        raise _offline_error(url, TimeoutError())
    if outcome[0] is not None:
        raise _offline_error(url, outcome[0])


def _is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _opener_for(host: str) -> urllib.request.OpenerDirector:
    # A proxy can never reach our own loopback interface: talk to it directly.
    if host == "localhost" or _is_loopback(host):
        return urllib.request.build_opener(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener()


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _offline_error(url: str, exc: BaseException) -> DownloadError:
    return DownloadError(
        f"Could not download {url}: {_describe(exc)}. Check the internet connection (or open "
        f"a file from disk instead)."
    )


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc  # URLError wraps the socket error
    if isinstance(reason, (socket.timeout, TimeoutError)):
        return "no answer in time"
    if isinstance(reason, http.client.IncompleteRead):
        return "the server closed the connection early"
    return str(reason) or type(reason).__name__


def _range_start(response) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match[1]) if match else None


def _safe_filename(name: str) -> str:
    # Only the last path component, without characters file systems dislike.
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".")
    return name or "download"


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform (Windows); the rename itself is atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
