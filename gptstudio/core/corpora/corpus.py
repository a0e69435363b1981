"""The `Corpus`: a named body of text, and how to walk it in chunks that tokenize safely.

A corpus is either held in memory (generated tasks, the standard library's source) or streamed
from files on disk (a user's folder, the bundled fables, a download). Both look the same from the
outside: `text`, `fingerprint()`, `n_chars`, `n_bytes`, `preview()` and `iter_chunks()`.

The trade-off for file corpora: opening one reads every file once, in blocks, to validate it
(strict UTF-8, not binary, not empty) and to compute its size and fingerprint — but keeps nothing.
`text` then reads the files again on demand and keeps the result, while `iter_chunks` streams them
block by block, so a multi-GB corpus can be tokenized without ever being held in memory, let alone
twice. A file that changes after the corpus was opened is refused (its fingerprint would lie):
`files.py` compares each file's size and modification time before and after reading it, and
`iter_chunks` hashes the streamed text and raises `CorpusError` after the last piece when it is
not the fingerprinted text (a same-size rewrite that kept the old modification time).

Chunk boundaries. Tokenizing chunk by chunk must give exactly the ids of tokenizing the whole
text. A chunk therefore only ends
  * right after the document separator `<|endoftext|>` — every tokenizer of ours cuts the text at
    special tokens before anything else, so this is a boundary for all of them; or
  * right after a newline "\\n" whose left neighbour is a visible non-space character and whose
    right neighbour is a letter or digit ("...end.\\nNext"). The regex pre-tokenizers of GPT-2,
    GPT-4 (cl100k) and o200k all make that lone "\\n" a piece of its own there, whether or not the
    text goes on after it. Looser cuts are not safe: GPT-2's `\\s+(?!\\S)` splits "\\n\\nThe" into
    "\\n" + "\\n" + "The" but a chunk ending in "\\n\\n" into one "\\n\\n" piece, and o200k glues
    "/" onto ".\\n". A character tokenizer is indifferent to where chunks end.
When no such boundary appears within `chunk_chars`, the chunk grows until one does (text with no
safe boundary at all, such as one endless line, is then held whole).

Left out: reading files (`files.py`), bundled and generated corpora (`builtin.py`, `synthetic.py`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from gptstudio.core.errors import ConfigError, CorpusError

DOCUMENT_SEPARATOR = "<|endoftext|>"

DEFAULT_CHUNK_CHARS = 1 << 20


@dataclass(frozen=True)
class CorpusStats:
    """Size and identity of a corpus text, computed in one streaming pass."""

    fingerprint: str  # sha256 hex digest of the text encoded as UTF-8
    n_chars: int
    n_bytes: int


def compute_stats(pieces: Iterable[str]) -> CorpusStats:
    """Fingerprint and sizes of the text made by concatenating `pieces`, without joining them."""
    digest = hashlib.sha256()
    n_chars = n_bytes = 0
    for piece in pieces:
        data = piece.encode("utf-8")
        digest.update(data)
        n_chars += len(piece)
        n_bytes += len(data)
    return CorpusStats(digest.hexdigest(), n_chars, n_bytes)


@dataclass(frozen=True, init=False, eq=False)
class Corpus:
    """A named text to train on; documents are joined with `<|endoftext|>`.

    Build one from a string with `Corpus(name, source, text=...)`. Corpora read from disk come from
    `load_corpus`, which uses `Corpus.streamed` so that the files are read only when needed.

    >>> c = Corpus("demo", "memory", text="one\\ntwo")
    >>> c.n_chars, c.n_bytes, c.preview(5)
    (7, 7, 'one\\nt')
    """

    name: str
    source: str  # "builtin:fables", a path, or a URL
    paths: tuple[Path, ...]  # the files read (empty for generated corpora)
    # Yields the text in pieces, in order; how a streamed corpus reads its files.
    _reader: Callable[[], Iterable[str]] = field(init=False, repr=False, compare=False)

    def __init__(
        self, name: str, source: str, paths: Iterable[Path] = (), text: str | None = None
    ) -> None:
        if not isinstance(text, str):
            raise CorpusError(f"A corpus text must be a str, not {type(text).__name__}.")
        if not text:
            raise CorpusError(f"The corpus {name!r} is empty.")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "paths", tuple(Path(p) for p in paths))
        object.__setattr__(self, "_reader", lambda: (text,))
        # `text` is a cached_property: filling its slot now makes the property return this string.
        self.__dict__["text"] = text

    @classmethod
    def streamed(
        cls,
        name: str,
        source: str,
        paths: Iterable[Path],
        reader: Callable[[], Iterable[str]],
        stats: CorpusStats,
    ) -> Corpus:
        """A corpus whose text `reader` yields on demand (already validated and measured)."""
        if stats.n_chars == 0:
            raise CorpusError(f"The corpus {name!r} is empty.")
        corpus = cls.__new__(cls)
        object.__setattr__(corpus, "name", name)
        object.__setattr__(corpus, "source", source)
        object.__setattr__(corpus, "paths", tuple(Path(p) for p in paths))
        object.__setattr__(corpus, "_reader", reader)
        corpus.__dict__["_stats"] = stats
        return corpus

    # --- the text and its measures -------------------------------------------------------------

    @cached_property
    def text(self) -> str:
        """The whole text (read on first use for a streamed corpus, then kept)."""
        return "".join(self._reader())

    @cached_property
    def _stats(self) -> CorpusStats:
        return compute_stats(self._reader())

    def fingerprint(self) -> str:
        """sha256 (hex) of the text as UTF-8: the corpus half of a token cache's key."""
        return self._stats.fingerprint

    @property
    def n_chars(self) -> int:
        """Number of characters (Unicode code points) of the text."""
        return self._stats.n_chars

    @property
    def n_bytes(self) -> int:
        """Number of bytes of the text in UTF-8: the denominator of bits per byte."""
        return self._stats.n_bytes

    def preview(self, n: int = 2000) -> str:
        """The first `n` characters, reading no more of the files than needed."""
        if "text" in self.__dict__:
            return self.text[:n]
        parts: list[str] = []
        have = 0
        for piece in self._reader():
            if have >= n:
                break
            parts.append(piece[: n - have])
            have += len(parts[-1])
        return "".join(parts)

    # --- chunks ---------------------------------------------------------------------------------

    def iter_chunks(self, chunk_chars: int = DEFAULT_CHUNK_CHARS) -> Iterator[str]:
        """The text in consecutive chunks of about `chunk_chars` characters.

        Chunks concatenate to exactly `text` and end only at safe boundaries (see the module
        docstring), so encoding them one by one gives the same ids as encoding the whole text.
        """
        if chunk_chars < 1:
            raise ConfigError(f"chunk_chars must be at least 1, got {chunk_chars}.")
        if "text" in self.__dict__:
            return iter_safe_chunks((self.text,), chunk_chars)
        return iter_safe_chunks(self._verified_pieces(), chunk_chars)

    def _verified_pieces(self) -> Iterator[str]:
        """The streamed text, hashed on the way: if it is not the text that was fingerprinted
        (a file rewritten in place between two reads), `CorpusError` after the last piece —
        so a token cache built from it is never stored under the old fingerprint."""
        digest, expected = hashlib.sha256(), self._stats
        n_chars = 0
        for piece in self._reader():
            digest.update(piece.encode("utf-8"))
            n_chars += len(piece)
            yield piece
        if digest.hexdigest() != expected.fingerprint or n_chars != expected.n_chars:
            raise CorpusError(
                f"The text of the corpus {self.name!r} is not what it was when it was opened "
                "(a file was changed since): open the corpus again.")


def _is_solid(char: str) -> bool:
    # Visible and not a space: no regex's \s can match it (all Unicode White_Space characters
    # are either " " or non-printable).
    return char.isprintable() and char != " "


def _is_newline_cut(text: str, cut: int) -> bool:
    """True when a chunk may end at `cut`, right after a lone newline between solid characters."""
    return (
        2 <= cut < len(text)
        and text[cut - 1] == "\n"
        and _is_solid(text[cut - 2])
        and text[cut].isalnum()
    )


def last_safe_cut(text: str, lo: int, hi: int) -> int | None:
    """The largest safe chunk end `cut` with lo <= cut <= hi, or None.

    >>> last_safe_cut("Hello.\\nWorld\\n\\nAgain", 1, 18)
    7
    """
    best = None
    sep_start = text.rfind(DOCUMENT_SEPARATOR, max(0, lo - len(DOCUMENT_SEPARATOR)), hi)
    if sep_start >= 0:
        best = sep_start + len(DOCUMENT_SEPARATOR)
    newline = text.rfind("\n", max(0, lo - 1), hi)  # a cut at c needs text[c - 1] == "\n"
    while newline >= 0 and (best is None or newline + 1 > best):
        if _is_newline_cut(text, newline + 1):
            return newline + 1
        newline = text.rfind("\n", max(0, lo - 1), newline)
    return best


def first_safe_cut(text: str, lo: int) -> int | None:
    """The smallest safe chunk end `cut` >= lo, or None (used when a chunk must grow)."""
    best = None
    sep_start = text.find(DOCUMENT_SEPARATOR, max(0, lo - len(DOCUMENT_SEPARATOR)))
    if sep_start >= 0:
        best = sep_start + len(DOCUMENT_SEPARATOR)
    newline = text.find("\n", max(0, lo - 1))
    while newline >= 0 and (best is None or newline + 1 < best):
        if _is_newline_cut(text, newline + 1):
            return newline + 1
        newline = text.find("\n", newline + 1)
    return best


def iter_safe_chunks(pieces: Iterable[str], chunk_chars: int) -> Iterator[str]:
    """Regroup a stream of text pieces into chunks of ~`chunk_chars` ending at safe boundaries.

    Holds at most about one chunk plus one piece in memory. A chunk is cut at the last safe
    boundary within `chunk_chars`; when there is none it grows to the first one after.
    """
    buffer = ""
    start = 0  # the chunk being built is buffer[start:]
    scanned = 0  # no safe cut lies in buffer[start + chunk_chars : scanned]; avoids rescans
    for piece in pieces:
        if not piece:
            continue
        # Keep two characters before the chunk being built: whether a newline right after the
        # last cut is itself a safe cut depends on the character before it.
        drop = max(0, start - 2)
        buffer = buffer[drop:] + piece
        scanned = max(0, scanned - drop)
        start -= drop
        while len(buffer) - start > chunk_chars:
            cut = last_safe_cut(buffer, start + 1, start + chunk_chars)
            if cut is None:
                cut = first_safe_cut(buffer, max(start + chunk_chars + 1, scanned))
                if cut is None:  # no boundary yet: wait for more text
                    scanned = max(start, len(buffer) - len(DOCUMENT_SEPARATOR) - 2)
                    break
            yield buffer[start:cut]
            start = cut
            scanned = start
    if len(buffer) > start:
        yield buffer[start:]
