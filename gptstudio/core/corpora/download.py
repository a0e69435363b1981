"""Downloading well-known public corpora into a cache: checksummed, resumable and cancellable.

`download(url)` fetches a file into the cache folder (`<cache>/downloads/<url hash>/<file name>`)
and returns its path; the next call returns the cached file without touching the network (with
`sha256`, a cached file that no longer matches is fetched again). `download_known(name)` does the
same for one of `KNOWN_DOWNLOADS`, whose exact bytes we know.

The transfer itself is `gptstudio.core.net.fetch`, the engine's one way onto the network: it
honours `GPTSTUDIO_OFFLINE`, has a timeout, reports `DownloadProgress`, stops on `cancel`, keeps a
`<file name>.part` file to resume with an HTTP Range request, and only moves a complete, checked
file to its final name. Errors are `DownloadError` (offline, HTTP, checksum) or `Cancelled`.

Left out: decoding the file as text (`load_corpus` does that), and any catalogue beyond
`KNOWN_DOWNLOADS`.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gptstudio import paths
from gptstudio.core import net
from gptstudio.core.errors import DownloadError
from gptstudio.core.net import DownloadProgress


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


def default_download_dir() -> Path:
    return paths.cache_dir() / "downloads"


def cached_download_path(url: str, *, cache_dir: str | os.PathLike[str] | None = None,
                         filename: str | None = None) -> Path:
    """Where `download(url, ...)` keeps its file: <cache>/downloads/<url hash>/<file name>."""
    parsed = net.parse_url(url)
    folder = Path(cache_dir) if cache_dir is not None else default_download_dir()
    folder = folder / hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]
    return folder / _safe_filename(filename or Path(parsed.path).name)


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
    target = cached_download_path(url, cache_dir=cache_dir, filename=filename)
    expected = sha256.lower() if sha256 else None
    if target.exists():
        if expected is None or net.file_sha256(target) == expected:
            return target
        target.unlink()  # corrupt or replaced: fetch it again
    return net.fetch(url, target, sha256=expected, timeout=timeout, progress=progress,
                     cancel=cancel, resume=True)


def download_known(name: str, **kwargs: Any) -> Path:
    """`download` one of `KNOWN_DOWNLOADS` by key, with its checksum and file name."""
    if name not in KNOWN_DOWNLOADS:
        raise DownloadError(
            f"Unknown corpus {name!r}; known ones: {', '.join(sorted(KNOWN_DOWNLOADS))}."
        )
    known = KNOWN_DOWNLOADS[name]
    return download(known.url, sha256=known.sha256, filename=known.filename, **kwargs)


def _safe_filename(name: str) -> str:
    # Only the last path component, without characters file systems dislike.
    name = re.sub(r"[^A-Za-z0-9._-]", "_", name).strip(".")
    return name or "download"
