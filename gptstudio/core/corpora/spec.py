"""A person's corpus choice as one short string, and the one resolver that turns it into a corpus.

    "builtin:fables"             a bundled or generated corpus (`load_builtin`)
    "download:tinyshakespeare"   one of `KNOWN_DOWNLOADS`, fetched once (checksummed) then cached
    "https://.../file.txt"       any http(s) URL, fetched once then cached (no checksum)
    "path/to/file-or-folder"     a text file or a folder of .txt/.md files ("~" is expanded)

The CLI's `--corpus`, the app's corpus picker and the run folders (`data_config.json`'s "corpus")
all speak this language, and only `resolve_corpus` interprets it (STYLE.md 17), so a run made in
the app resumes from the command line and the other way round. Downloads go through
`gptstudio.core.net`: `GPTSTUDIO_OFFLINE=1` stops them, and cached files still load offline.

Left out: how each kind is produced (`builtin.py`, `download.py`, `files.py`).
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from gptstudio.core.corpora.builtin import load_builtin
from gptstudio.core.corpora.corpus import Corpus
from gptstudio.core.corpora.download import download, download_known
from gptstudio.core.corpora.files import ReadProgress, load_corpus
from gptstudio.core.errors import CorpusError
from gptstudio.core.net import DownloadProgress

BUILTIN_PREFIX = "builtin:"
DOWNLOAD_PREFIX = "download:"
URL_PREFIXES = ("http://", "https://")


def resolve_corpus(
    spec: str,
    *,
    progress: Callable[[DownloadProgress | ReadProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> Corpus:
    """The corpus named by `spec` (see the module docstring); its `source` is the spec.

    `progress` gets `DownloadProgress` while a download runs and `cancel` stops it between two
    blocks with `Cancelled` (the partial file is kept, so the next try resumes). Opening a file
    or a folder (downloaded or not) then reads it once to check it: `progress` gets
    `ReadProgress` (bytes of the files) and `cancel` stops that too. Bundled corpora use
    neither. Raises `CorpusError` (`DownloadError` for downloads).
    """
    spec = spec.strip()
    if not spec:
        raise CorpusError("No corpus was chosen: give builtin:NAME, download:NAME, a URL or a "
                          "path.")
    if spec.startswith(BUILTIN_PREFIX):
        return load_builtin(spec.removeprefix(BUILTIN_PREFIX))
    if spec.startswith(DOWNLOAD_PREFIX):
        key = spec.removeprefix(DOWNLOAD_PREFIX)
        path = download_known(key, progress=progress, cancel=cancel)
        return load_corpus(path, name=key, source=spec, progress=progress, cancel=cancel)
    if spec.startswith(URL_PREFIXES):
        return load_corpus(download(spec, progress=progress, cancel=cancel), source=spec,
                           progress=progress, cancel=cancel)
    return load_corpus(Path(spec).expanduser(), source=canonical_corpus_spec(spec),
                       progress=progress, cancel=cancel)


def canonical_corpus_spec(spec: str) -> str:
    """`spec` as a run folder stores it: a path made absolute (so the run can be resumed from
    any folder), anything else as it is.

    >>> canonical_corpus_spec("builtin:fables")
    'builtin:fables'
    >>> canonical_corpus_spec("/data/../data/texts")
    '/data/texts'
    """
    spec = spec.strip()
    if spec.startswith((BUILTIN_PREFIX, DOWNLOAD_PREFIX, *URL_PREFIXES)):
        return spec
    return str(Path(spec).expanduser().resolve())


def corpus_label(spec: str) -> str:
    """A short label for status messages; never raises and never touches the disk.

    >>> corpus_label("builtin:fables"), corpus_label("download:tinyshakespeare")
    ('fables', 'tinyshakespeare (download)')
    >>> corpus_label("https://example.org/texts/input.txt"), corpus_label("~/texts/poems/")
    ('input.txt (example.org)', 'poems')
    """
    spec = spec.strip()
    if spec.startswith(BUILTIN_PREFIX):
        return spec.removeprefix(BUILTIN_PREFIX)
    if spec.startswith(DOWNLOAD_PREFIX):
        return f"{spec.removeprefix(DOWNLOAD_PREFIX)} (download)"
    if spec.startswith(URL_PREFIXES):
        parsed = urllib.parse.urlsplit(spec)
        name = PurePosixPath(parsed.path).name
        return f"{name} ({parsed.hostname})" if name else parsed.hostname or spec
    return Path(spec).name or spec
