"""Tokenizing a corpus once, in streamed chunks, into an on-disk token cache (`np.memmap`).

`tokenize_corpus(corpus, tokenizer)` returns the corpus' token ids as a read-only memory map.
The first call encodes the corpus chunk by chunk (`Corpus.iter_chunks`, which only cuts where
chunked encoding equals whole-text encoding) and appends each chunk's ids to a file, so neither
the text nor the ids of a multi-GB corpus ever has to fit in memory. Later calls with the same
corpus and tokenizer find the cache and return at once.

The cache, in `<cache>/tokens/`:
  * `<key>.bin`  the ids, native little-endian uint16 when every id fits (vocab_size <= 65,536),
    else uint32 — uint16 would silently wrap id 100,276 to 34,740, so an id that does not fit
    the dtype raises `DatasetError` instead.
  * `<key>.json` a small sidecar: format version, dtype, number of tokens, the fingerprints.
  `key` is a hash of the corpus fingerprint (sha256 of its text) and the tokenizer fingerprint.

Crash safety: the ids go to `<key>.<pid>-<random>.tmp`, which is flushed, fsynced and renamed over
`<key>.bin`; the sidecar is written the same way *last*. A cache is used only when its sidecar
parses, matches the key, and the `.bin` file has exactly `length * itemsize` bytes; anything
else (a crash midway, a truncated or foreign file) is rebuilt. Flipped bits inside an
intact-looking `.bin` are not detected: that would mean hashing the whole file on every load.
Temp files left by a crashed process (its pid no longer running) are removed on the next build.

Memory stays bounded whatever the corpus size: one chunk of text (`chunk_chars`, about 1 MB)
and its ids are held at a time. Progress (`TokenizeProgress`, characters and UTF-8 bytes done of
the total) comes before the first chunk and after each one; `cancel` stops between chunks. A
file corpus that changes while it is read raises `CorpusError` and leaves no cache behind
(`Corpus.iter_chunks` checks the text against its fingerprint). Speed-up: `encode_chunk` asks
tiktoken (BPE) or numpy (characters) for an array directly instead of a list of Python ints.

The cache is bounded: after each build, the least recently used caches are removed until the
folder holds at most `GPTSTUDIO_TOKEN_CACHE_MB` megabytes (default 4096); a cache used again is
marked as recent. `clear_token_cache()` (the CLI's `gptstudio cache --clear`) empties it.

Left out: the tokenizers themselves (`gptstudio.core.tokenizers`) and windows/batches
(`dataset.py`).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from gptstudio import paths
from gptstudio.core.atomic import atomic_write_text, clean_stale_temp_files, fsync_dir, \
    temp_name
from gptstudio.core.corpora.corpus import DEFAULT_CHUNK_CHARS, Corpus
from gptstudio.core.errors import Cancelled, DatasetError
from gptstudio.core.tokenizers import BPETokenizer, CharTokenizer

CACHE_FORMAT_VERSION = 1
CACHE_LIMIT_ENV = "GPTSTUDIO_TOKEN_CACHE_MB"
DEFAULT_CACHE_LIMIT_MB = 4096


class EncodesText(Protocol):
    """What the cache needs of a tokenizer (every `gptstudio.core.tokenizers.Tokenizer` has it)."""

    vocab_size: int

    def encode(self, text: str, allowed_special: str | set[str] = "none") -> list[int]: ...

    def fingerprint(self) -> str: ...


@dataclass(frozen=True)
class TokenizeProgress:
    """How far tokenizing has come; `cached` is True when the ids came from the cache."""

    done_chars: int
    total_chars: int
    n_tokens: int
    cached: bool = False
    done_bytes: int = 0  # the same progress in UTF-8 bytes of the text (what MB/s count)
    total_bytes: int = 0


def token_dtype(vocab_size: int) -> np.dtype:
    """The smallest unsigned dtype holding every id below `vocab_size`: uint16 or uint32."""
    if vocab_size < 1:
        raise DatasetError(f"A vocabulary needs at least one token, not {vocab_size}.")
    # Little-endian on every machine, so a cache file means the same thing everywhere.
    if vocab_size <= 1 << 16:
        return np.dtype("<u2")
    if vocab_size <= 1 << 32:
        return np.dtype("<u4")
    raise DatasetError(f"A vocabulary of {vocab_size} tokens is too large for the token cache.")


def default_token_cache_dir() -> Path:
    return paths.cache_dir() / "tokens"


def cache_key(corpus: Corpus, tokenizer: EncodesText) -> str:
    """The file stem of a corpus + tokenizer pair's cache."""
    material = f"v{CACHE_FORMAT_VERSION}:{corpus.fingerprint()}:{tokenizer.fingerprint()}"
    return hashlib.sha256(material.encode("ascii")).hexdigest()[:32]


def tokenize_corpus(
    corpus: Corpus,
    tokenizer: EncodesText,
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[TokenizeProgress], None] | None = None,
    cancel: threading.Event | None = None,
    chunk_chars: int = DEFAULT_CHUNK_CHARS,
) -> np.memmap:
    """All of the corpus' token ids, as a read-only memmap (from the cache, or built now).

    Special tokens in the text (the `<|endoftext|>` between documents) are encoded as their
    special ids. Raises `DatasetError` when an id does not fit the dtype, `Cancelled` when
    `cancel` is set between two chunks (nothing is left in the cache).
    """
    folder = Path(cache_dir) if cache_dir is not None else default_token_cache_dir()
    key = cache_key(corpus, tokenizer)
    bin_path, meta_path = folder / f"{key}.bin", folder / f"{key}.json"
    dtype = token_dtype(tokenizer.vocab_size)
    expected_meta = {
        "format_version": CACHE_FORMAT_VERSION,
        "dtype": dtype.name,
        "corpus_fingerprint": corpus.fingerprint(),
        "tokenizer_fingerprint": tokenizer.fingerprint(),
    }
    length = _valid_cache_length(bin_path, meta_path, expected_meta, dtype)
    if length is None:
        folder.mkdir(parents=True, exist_ok=True)
        clean_stale_temp_files(folder)
        meta_path.unlink(missing_ok=True)  # from here on the old .bin (if any) is not trusted
        length = _build(corpus, tokenizer, bin_path, dtype, key, progress, cancel, chunk_chars)
        atomic_write_text(meta_path, json.dumps({**expected_meta, "length": length}, indent=1))
        fsync_dir(folder)
        prune_token_cache(folder, keep=(key,))
    else:
        _mark_used(meta_path)
        if progress:
            progress(TokenizeProgress(corpus.n_chars, corpus.n_chars, length, cached=True,
                                      done_bytes=corpus.n_bytes, total_bytes=corpus.n_bytes))
    return np.memmap(bin_path, dtype=dtype, mode="r", shape=(length,))


@dataclass(frozen=True)
class CacheEntry:
    """One corpus + tokenizer pair's cache: its key, its size in bytes, when it was last used."""

    key: str
    n_bytes: int
    used: float  # seconds since the epoch


def cache_limit_bytes() -> int:
    """The cache's size limit: `GPTSTUDIO_TOKEN_CACHE_MB` megabytes (default 4096)."""
    raw = os.environ.get(CACHE_LIMIT_ENV, "")
    try:
        megabytes = int(raw) if raw.strip() else DEFAULT_CACHE_LIMIT_MB
    except ValueError:
        raise DatasetError(f"{CACHE_LIMIT_ENV} must be a whole number of megabytes, not "
                           f"{raw!r}.") from None
    return max(0, megabytes) * (1 << 20)


def token_cache_entries(folder: str | os.PathLike[str] | None = None) -> list[CacheEntry]:
    """The caches in `folder` (default: the user's), least recently used first."""
    folder = Path(folder) if folder is not None else default_token_cache_dir()
    entries = []
    for meta in folder.glob("*.json") if folder.is_dir() else []:
        bin_path = meta.with_suffix(".bin")
        try:
            size = meta.stat().st_size + (bin_path.stat().st_size if bin_path.exists() else 0)
            entries.append(CacheEntry(meta.stem, size, meta.stat().st_mtime))
        except OSError:
            continue
    return sorted(entries, key=lambda e: (e.used, e.key))


def prune_token_cache(folder: str | os.PathLike[str] | None = None, *,
                      limit_bytes: int | None = None, keep: tuple[str, ...] = ()) -> list[str]:
    """Remove the least recently used caches until at most `limit_bytes` remain (default
    `cache_limit_bytes()`), never those in `keep`; returns the removed keys."""
    folder = Path(folder) if folder is not None else default_token_cache_dir()
    limit = cache_limit_bytes() if limit_bytes is None else limit_bytes
    entries = token_cache_entries(folder)
    total, removed = sum(e.n_bytes for e in entries), []
    for entry in entries:
        if total <= limit:
            break
        if entry.key in keep:
            continue
        if _remove_entry(folder, entry.key):
            total -= entry.n_bytes
            removed.append(entry.key)
    return removed


def clear_token_cache(folder: str | os.PathLike[str] | None = None) -> int:
    """Remove every cache in `folder` (default: the user's); returns the bytes freed."""
    folder = Path(folder) if folder is not None else default_token_cache_dir()
    freed = 0
    for entry in token_cache_entries(folder):
        if _remove_entry(folder, entry.key):
            freed += entry.n_bytes
    return freed


def _remove_entry(folder: Path, key: str) -> bool:
    """Sidecar first (a .bin without one is never trusted), then the ids; False if in use
    where the system refuses (a memory-mapped file on Windows)."""
    try:
        (folder / f"{key}.json").unlink(missing_ok=True)
        (folder / f"{key}.bin").unlink(missing_ok=True)
    except OSError:
        return False
    return True


def _mark_used(meta_path: Path) -> None:
    try:
        os.utime(meta_path)  # the sidecar's time is the cache's last use
    except OSError:
        pass  # a read-only cache still works; it is only pruned sooner


def _valid_cache_length(
    bin_path: Path, meta_path: Path, expected: dict, dtype: np.dtype
) -> int | None:
    """The cached number of tokens, or None when there is no trustworthy cache."""
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        length = meta["length"]
        size = bin_path.stat().st_size
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if any(meta.get(k) != v for k, v in expected.items()):
        return None
    if not isinstance(length, int) or length < 1 or size != length * dtype.itemsize:
        return None
    return length


def _build(
    corpus: Corpus,
    tokenizer: EncodesText,
    bin_path: Path,
    dtype: np.dtype,
    key: str,
    progress: Callable[[TokenizeProgress], None] | None,
    cancel: threading.Event | None,
    chunk_chars: int,
) -> int:
    """Encode the corpus chunk by chunk into a temp file, then move it to `bin_path`."""
    tmp_path = bin_path.with_name(temp_name(bin_path.name))
    limit = np.iinfo(dtype).max
    total_chars, done_chars, n_tokens = corpus.n_chars, 0, 0
    total_bytes, done_bytes = corpus.n_bytes, 0
    try:
        with tmp_path.open("wb") as out:
            if progress:
                progress(TokenizeProgress(0, total_chars, 0, total_bytes=total_bytes))
            for chunk in corpus.iter_chunks(chunk_chars):
                if cancel is not None and cancel.is_set():
                    raise Cancelled("Tokenizing the corpus was cancelled.")
                ids = encode_chunk(tokenizer, chunk)
                _check_ids_fit(ids, limit, dtype, tokenizer.vocab_size)
                out.write(ids.astype(dtype).tobytes())
                done_chars += len(chunk)
                done_bytes += len(chunk.encode("utf-8"))
                n_tokens += len(ids)
                if progress:
                    progress(TokenizeProgress(done_chars, total_chars, n_tokens,
                                              done_bytes=done_bytes, total_bytes=total_bytes))
            out.flush()
            os.fsync(out.fileno())
        if n_tokens == 0:
            raise DatasetError(f"The corpus {corpus.name!r} encodes to no tokens at all.")
        os.replace(tmp_path, bin_path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return n_tokens


def encode_chunk(tokenizer: EncodesText, chunk: str) -> np.ndarray:
    """`tokenizer.encode(chunk, allowed_special="all")` as an int64 array (the same ids).

    The speed-up: BPE and tiktoken tokenizers encode through tiktoken's `encode_to_numpy`
    and the character tokenizer through its `encode_array`, skipping a list of Python ints.
    """
    if isinstance(tokenizer, CharTokenizer):
        return tokenizer.encode_array(chunk, allowed_special="all")
    if isinstance(tokenizer, BPETokenizer):
        specials = set(tokenizer.special_tokens)
        ids = tokenizer.encoding.encode_to_numpy(chunk, allowed_special=specials,
                                                 disallowed_special=())
        return ids.astype(np.int64)
    return np.asarray(tokenizer.encode(chunk, allowed_special="all"), dtype=np.int64)


def _check_ids_fit(ids: np.ndarray, limit: int, dtype: np.dtype, vocab_size: int) -> None:
    if ids.size == 0:
        return
    low, high = int(ids.min()), int(ids.max())
    if low < 0 or high > limit:
        bad = low if low < 0 else high
        raise DatasetError(
            f"Token id {bad} does not fit the token cache's {dtype.name} (0..{limit}); the "
            f"tokenizer claims a vocabulary of {vocab_size}, so it produced an id out of range."
        )
