"""Reading text files and folders of them as a corpus — strictly, with errors a person can act on.

The rules for a file:
  * UTF-8, with or without a byte-order mark (the BOM is dropped). Decoding is strict: the first
    undecodable byte raises `CorpusError` naming the file and the byte's offset.
  * A NUL byte in the first 8000 bytes marks a binary file (the same test git uses) and is refused
    with its offset. NUL bytes further in are kept as text.
  * An empty file (or one holding only a BOM) is refused: it cannot teach anything and usually
    means a wrong pick.
  * Windows line ends "\\r\\n" become "\\n", as Python's text mode reads them, so the model does
    not spend capacity on "\\r" and chunk boundaries (see `corpus.py`) work on such files too.

A folder is every `.txt` and `.md` file below it (recursively, hidden files and folders skipped),
in a stable order — sorted by their path parts relative to the folder, whatever the file system
lists first — joined with the document separator `<|endoftext|>`.

Files are decoded in blocks by one streaming decoder, shared by `read_text_file` (whole text) and
`load_corpus` (validate now, stream later); see `corpus.py` for that trade-off. Opening reports
`ReadProgress` (bytes read of the files' total) after every block and stops with `Cancelled`.
A file that changes while it is read — its size or modification time differ before and after,
or it yields more bytes than its size said — is refused with a `CorpusError`, so the corpus
fingerprint (and the token cache keyed by it) always describes one version of the text.
Left out: bundled corpora (`builtin.py`), downloads (`download.py`).
"""

from __future__ import annotations

import codecs
import errno
import io
import os
import stat
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gptstudio.core.corpora.corpus import DOCUMENT_SEPARATOR, Corpus, compute_stats
from gptstudio.core.errors import Cancelled, CorpusError

TEXT_SUFFIXES = (".txt", ".md")
BINARY_SNIFF_BYTES = 8000  # a NUL byte within this many leading bytes means "binary"
BLOCK_BYTES = 1 << 20
_BOM = codecs.BOM_UTF8
_OTHER_BOMS = ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"),
               (codecs.BOM_UTF16_LE, "UTF-16"), (codecs.BOM_UTF16_BE, "UTF-16"))


@dataclass(frozen=True)
class ReadProgress:
    """How far opening (checking and measuring) a file corpus has come, in bytes of its files."""

    done_bytes: int
    total_bytes: int


def iter_decoded(stream: BinaryIO, name: str, block_bytes: int = BLOCK_BYTES) -> Iterator[str]:
    """Decode a byte stream as strict UTF-8 text, block by block (see the module rules).

    `name` is the file name used in error messages. Raises `CorpusError` for a binary, empty or
    undecodable file; the error comes when the decoder reaches the bad byte.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
    offset = 0  # file offset of the first byte of `block`
    held_cr = ""  # a "\r" ending a block: it may be the first half of "\r\n"
    n_chars = 0
    block = stream.read(max(block_bytes, len(_BOM)))  # the BOM must lie in the first block
    for bom, encoding in _OTHER_BOMS:  # longest first: UTF-32's BOM starts like UTF-16's
        if block.startswith(bom):
            raise CorpusError(
                f"{name} is {encoding} text (it starts with a {encoding} byte-order mark), and "
                f"corpora are read as UTF-8: save it as UTF-8 (e.g. `iconv -f {encoding} -t "
                f"UTF-8`), then open it again.")
    if block.startswith(_BOM):
        block, offset = block[len(_BOM):], len(_BOM)
    while block:
        if offset < BINARY_SNIFF_BYTES:
            nul = block.find(b"\x00", 0, BINARY_SNIFF_BYTES - offset)
            if nul >= 0:
                raise CorpusError(
                    f"{name} looks like a binary file, not text: it has a NUL byte at byte "
                    f"offset {offset + nul}."
                )
        pending = len(decoder.getstate()[0])  # bytes of an unfinished character before `block`
        try:
            text = decoder.decode(block)
        except UnicodeDecodeError as exc:
            raise _decode_error(name, offset - pending + exc.start, exc) from None
        offset += len(block)
        text, held_cr = _normalize_newlines(held_cr + text)
        n_chars += len(text)
        if text:
            yield text
        block = stream.read(block_bytes)
    pending = len(decoder.getstate()[0])
    try:
        decoder.decode(b"", final=True)  # a character cut off by the end of the file
    except UnicodeDecodeError as exc:
        raise _decode_error(name, offset - pending + exc.start, exc) from None
    if held_cr:
        n_chars += 1
        yield held_cr
    if n_chars == 0:
        raise CorpusError(f"{name} is empty: a corpus needs some text.")


def _normalize_newlines(text: str) -> tuple[str, str]:
    """Turn "\\r\\n" into "\\n"; return (text, a trailing "\\r" held back for the next block)."""
    held = ""
    if text.endswith("\r"):
        text, held = text[:-1], "\r"
    return text.replace("\r\n", "\n"), held


def _decode_error(name: str, offset: int, exc: UnicodeDecodeError) -> CorpusError:
    bad = exc.object[exc.start]
    return CorpusError(
        f"{name} is not valid UTF-8 text: byte 0x{bad:02x} at byte offset {offset} cannot be "
        f"decoded. Save the file as UTF-8 and try again."
    )


def decode_text(data: bytes, name: str = "the text") -> str:
    """Decode bytes by the same strict rules as a file (used for downloads and source files)."""
    return "".join(iter_decoded(io.BytesIO(data), name))


def read_text_file(path: str | os.PathLike[str]) -> str:
    """The whole text of one file: strict UTF-8 (BOM allowed); `CorpusError` with file + offset."""
    path = Path(path)
    try:
        with path.open("rb") as stream:
            return "".join(iter_decoded(stream, str(path)))
    except OSError as exc:
        raise _os_error(path, exc) from None


def _os_error(path: Path, exc: OSError) -> CorpusError:
    if isinstance(exc, FileNotFoundError) and not path.is_symlink():
        return CorpusError(f"{path} does not exist.")
    if exc.errno == errno.ELOOP or (isinstance(exc, FileNotFoundError) and path.is_symlink()):
        return _link_error(path)
    return CorpusError(f"Cannot read {path}: {exc.strerror or exc}.")


def _link_error(path: Path) -> CorpusError:
    """A link that leads nowhere: a loop of links, or a target that is gone."""
    try:
        path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports a loop this way
        return CorpusError(f"{path} is a symbolic link that leads back to itself (a loop).")
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return CorpusError(f"{path} is a symbolic link that leads back to itself (a loop).")
        return CorpusError(f"{path} is a symbolic link to {os.readlink(path)}, which does not "
                           "exist.")
    return CorpusError(f"Cannot read {path}.")


def find_text_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Every .txt/.md file below `folder` (hidden entries skipped), in stable sorted order."""
    root = Path(folder)
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=_raise_walk_error):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]  # .git, .venv, ...
        for filename in filenames:
            if not filename.startswith(".") and filename.lower().endswith(TEXT_SUFFIXES):
                found.append(Path(dirpath) / filename)
    # Sort by path parts, not by the string: "a/b.txt" vs "a.txt" must not depend on "/" vs ".".
    found.sort(key=lambda p: p.relative_to(root).parts)
    return found


def _raise_walk_error(exc: OSError) -> None:
    raise _os_error(Path(exc.filename or "?"), exc)


def load_corpus(
    path: str | os.PathLike[str], *, name: str | None = None, source: str | None = None,
    progress: Callable[[ReadProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> Corpus:
    """Open a text file or a folder of .txt/.md files as a `Corpus`.

    Every file is read once now, in blocks, to check it and to measure and fingerprint the text;
    the text itself is read again when it is needed (see `corpus.py`). `name` defaults to the
    file's stem or the folder's name, `source` to the path. `progress` gets a `ReadProgress`
    at the start and after every block read; `cancel` stops the reading with `Cancelled`.
    """
    path = Path(path)
    if path.is_dir():
        files = find_text_files(path)
        if not files:
            raise CorpusError(f"The folder {path} holds no .txt or .md files.")
    elif path.exists():
        files = [path]
    elif path.is_symlink():
        raise _link_error(path)
    else:
        raise CorpusError(f"{path} does not exist.")
    snapshots = [_snapshot(f) for f in files]

    def reader(meter: _Meter | None = None) -> Iterator[str]:
        for i, (file, snapshot) in enumerate(zip(files, snapshots)):
            if i:
                yield DOCUMENT_SEPARATOR
            if _snapshot(file) != snapshot:
                raise CorpusError(f"{file} changed after the corpus was opened; open it again.")
            yield from _iter_file(file, snapshot, meter)

    meter = _Meter(sum(size for size, _ in snapshots), progress, cancel)
    meter.report()
    stats = compute_stats(reader(meter))  # the validating pass: raises on the first bad file
    return Corpus.streamed(
        name or (path.name if path.is_dir() else path.stem) or str(path),
        source or str(path),
        files,
        reader,
        stats,
    )


class _Meter:
    """Counts the bytes read for `ReadProgress` and checks `cancel` between blocks."""

    def __init__(self, total: int, progress: Callable[[ReadProgress], None] | None,
                 cancel: threading.Event | None) -> None:
        self.total, self.done, self.progress, self.cancel = total, 0, progress, cancel

    def add(self, n_bytes: int) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("Opening the corpus was cancelled.")
        self.done += n_bytes
        self.report()

    def report(self) -> None:
        if self.progress is not None:
            self.progress(ReadProgress(self.done, max(self.total, self.done)))


class _CountingStream:
    """A binary stream that counts the bytes it hands out (for the meter) and stops a file
    that has grown past `limit` bytes since it was measured."""

    def __init__(self, stream: BinaryIO, path: Path, limit: int | None,
                 meter: _Meter | None) -> None:
        self.stream, self.path, self.limit, self.meter, self.n_read = stream, path, limit, meter, 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.n_read += len(data)
        if self.limit is not None and self.n_read > self.limit:
            raise _changed_error(self.path, self.limit, self.n_read)
        if self.meter is not None and data:
            self.meter.add(len(data))
        return data


def _iter_file(path: Path, snapshot: tuple[int, int] | None = None,
               meter: _Meter | None = None) -> Iterator[str]:
    """The decoded text of `path`; with `snapshot` (size, mtime), refused if the file is not
    that version any more once it has been read to its end."""
    try:
        with path.open("rb") as raw:
            stream = _CountingStream(raw, path, snapshot[0] if snapshot else None, meter)
            yield from iter_decoded(stream, str(path), BLOCK_BYTES)  # type: ignore[arg-type]
            if snapshot is not None and (stream.n_read != snapshot[0]
                                         or _snapshot(path) != snapshot):
                raise _changed_error(path, snapshot[0], stream.n_read)
    except OSError as exc:
        raise _os_error(path, exc) from None


def _changed_error(path: Path, size: int, n_read: int) -> CorpusError:
    return CorpusError(
        f"{path} changed while it was being read (it had {size:,} bytes; {n_read:,} were "
        "read): wait until nothing writes to it any more, then open it again.")


def _snapshot(path: Path) -> tuple[int, int]:
    """(size, modification time) of a regular file; a device or a pipe is refused (reading
    /dev/zero would never end)."""
    try:
        info = path.stat()
    except OSError as exc:
        raise _os_error(path, exc) from None
    if not stat.S_ISREG(info.st_mode):
        raise CorpusError(f"{path} is not a regular file (a device, a pipe or a socket): a "
                          "corpus is read from text files.")
    return info.st_size, info.st_mtime_ns
