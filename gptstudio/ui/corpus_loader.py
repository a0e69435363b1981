"""Turns a corpus choice of the Setup tab into an engine `Corpus` (run in a background task).

A choice is a short string: `"builtin:NAME"` (bundled or generated), `"download:NAME"` (one of
the engine's known public corpora, fetched with progress into the cache), or a file/folder path.
Everything real happens in `gptstudio.core.corpora`; this is only the dispatch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gptstudio.core.corpora import Corpus, download_known, load_corpus, resolve_corpus


def describe_choice(spec: str) -> str:
    """A short label for a choice, for status messages."""
    if spec.startswith("builtin:"):
        return spec.split(":", 1)[1]
    if spec.startswith("download:"):
        return f"{spec.split(':', 1)[1]} (download)"
    return Path(spec).name or spec


def load_choice(spec: str, progress: Callable[[Any], None] | None = None,
                cancel: threading.Event | None = None) -> Corpus:
    """Load the corpus a choice names; downloads report `DownloadProgress` through `progress`."""
    if spec.startswith("download:"):
        # download_known checks the name and the checksum, and raises Cancelled when asked to.
        key = spec.split(":", 1)[1]
        path = download_known(key, progress=progress, cancel=cancel)
        return load_corpus(path, name=key, source=spec)
    return resolve_corpus(spec)
