""""Python source on this machine": the running interpreter's standard library as a code corpus.

Every `.py` file of the standard library folder (`sysconfig`'s "stdlib" path) is a document, in a
stable sorted order, joined with `<|endoftext|>`. It is real, idiomatic code that is already on
every machine that runs GPT Studio, so a code model can be trained offline.

Skipped on purpose: third-party packages (`site-packages`, `dist-packages`), byte-code caches,
and the test suites (`test`, `tests`, `idle_test`), which are huge and full of deliberately odd
files. Files that cannot be read or are not strict UTF-8 (a few test fixtures use Latin-1) are
skipped quietly and counted. The size is capped: whole files are taken in order while they fit in
`max_chars`; a file that would cross the cap is passed over for smaller ones after it.

Left out: site-specific code of any kind, and the user's own folders (open those with
`load_corpus`).
"""

from __future__ import annotations

import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from gptstudio.core.corpora.corpus import DOCUMENT_SEPARATOR, Corpus
from gptstudio.core.corpora.files import decode_text
from gptstudio.core.errors import CorpusError

DEFAULT_MAX_CHARS = 2_000_000
_SKIPPED_DIRS = {"site-packages", "dist-packages", "__pycache__", "test", "tests", "idle_test"}


def stdlib_dir() -> Path:
    """The folder of the running interpreter's standard library."""
    return Path(sysconfig.get_paths()["stdlib"])


def find_python_files(root: Path) -> list[Path]:
    """All `.py` files below `root`, minus the skipped folders, sorted by relative path parts."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _SKIPPED_DIRS and not d.startswith(".")]
        found.extend(Path(dirpath) / f for f in filenames if f.endswith(".py"))
    found.sort(key=lambda p: p.relative_to(root).parts)
    return found


@dataclass(frozen=True)
class StdlibSource:
    """What was collected: the corpus, and how many files were left out and why."""

    corpus: Corpus
    n_files: int  # files included
    n_unreadable: int  # skipped: unreadable, binary, empty or not UTF-8
    n_over_cap: int  # skipped: would not fit in max_chars


def collect_stdlib_source(
    max_chars: int = DEFAULT_MAX_CHARS, *, root: Path | None = None
) -> StdlibSource:
    """Gather the standard library's source (or any folder's `.py` files, with `root`)."""
    if max_chars < 1:
        raise CorpusError(f"The size cap must be at least 1 character, not {max_chars}.")
    root = stdlib_dir() if root is None else Path(root)
    documents: list[str] = []
    paths: list[Path] = []
    total = n_unreadable = n_over_cap = 0
    for path in find_python_files(root):
        try:
            text = decode_text(path.read_bytes(), str(path))
        except (OSError, CorpusError):
            n_unreadable += 1
            continue
        if DOCUMENT_SEPARATOR in text:  # it would read as a document break
            n_unreadable += 1
            continue
        cost = len(text) + (len(DOCUMENT_SEPARATOR) if documents else 0)
        if total + cost > max_chars:
            n_over_cap += 1
            continue
        documents.append(text)
        paths.append(path)
        total += cost
    if not documents:
        raise CorpusError(f"No readable Python file of at most {max_chars} characters in {root}.")
    corpus = Corpus("python-stdlib", "builtin:python-stdlib", paths,
                    text=DOCUMENT_SEPARATOR.join(documents))
    return StdlibSource(corpus, len(paths), n_unreadable, n_over_cap)


def stdlib_corpus(max_chars: int = DEFAULT_MAX_CHARS) -> Corpus:
    """The standard library's source as a `Corpus` of at most `max_chars` characters."""
    return collect_stdlib_source(max_chars).corpus
