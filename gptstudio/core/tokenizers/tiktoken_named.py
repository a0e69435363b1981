"""OpenAI's encodings (gpt2, cl100k_base, o200k_base) and `.tiktoken` rank files.

A `.tiktoken` file is a rank table, one token a line: the token's bytes in base64, a space,
its rank. `TiktokenTokenizer.from_file` reads one chosen by the user; it never needs a network.

The named encodings live in tiktoken's cache (`TIKTOKEN_CACHE_DIR`, else `DATA_GYM_CACHE_DIR`,
else `<tmp>/data-gym-cache`), each file named by the sha1 of its URL and checked against a
sha256, exactly as `tiktoken.get_encoding` keeps them, so either of us fills the cache for the
other. tiktoken itself would download a missing file with no timeout and no offline switch, so we
never let it: we check the cache ourselves, download a missing file through
`gptstudio.core.net.fetch` (timeout, checksum, `GPTSTUDIO_OFFLINE`, progress, cancel), and build
the `tiktoken.Encoding` from the checked file with the pattern and special tokens of our table
(a test compares the table with tiktoken's registry). Anything that fails is a `TokenizerError`
naming `TIKTOKEN_CACHE_DIR` and the `.tiktoken` file option. `named_encoding_status` says quickly
whether a name can be loaded here, without downloading.

"gpt2" and "r50k_base" are the same encoding in tiktoken (same ranks, pattern and
<|endoftext|> = 50256); both are read from the single r50k_base file.

Leaves out the BPE algorithm itself (`bpe.py`): a TiktokenTokenizer *is* a BPETokenizer, so its
pure-Python `encode_slow` reproduces tiktoken's ids from the ranks alone.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import tiktoken

from gptstudio.core import net
from gptstudio.core.errors import DownloadError, TokenizerError
from gptstudio.core.net import OFFLINE_ENV, DownloadProgress
from gptstudio.core.readers import MB, read_regular_file
from gptstudio.core.tokenizers.base import ENDOFTEXT
from gptstudio.core.tokenizers.bpe import BPETokenizer
from gptstudio.core.tokenizers.patterns import pattern_regex

DOWNLOAD_TIMEOUT = 10.0  # seconds without data before a download gives up
# The encodings the app offers (r50k_base is gpt2 under its other name).
APP_ENCODINGS = ("gpt2", "cl100k_base", "o200k_base")


@dataclass(frozen=True)
class NamedEncoding:
    """Where tiktoken finds one named encoding, and what it holds."""

    tiktoken_name: str  # the name tiktoken.get_encoding knows
    url: str
    sha256: str  # of the rank file, as tiktoken checks it
    pattern: str  # our name of its split pattern (patterns.py)
    special_tokens: Mapping[str, int]
    size_mb: float  # download size, for the message


_OPENAI = "https://openaipublic.blob.core.windows.net/encodings/"
_R50K = NamedEncoding(
    "r50k_base", _OPENAI + "r50k_base.tiktoken",
    "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930",
    "gpt2", {ENDOFTEXT: 50256}, 0.8,
)
NAMED_ENCODINGS: dict[str, NamedEncoding] = {
    "gpt2": _R50K,
    "r50k_base": _R50K,
    "cl100k_base": NamedEncoding(
        "cl100k_base", _OPENAI + "cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        "gpt4", {ENDOFTEXT: 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                 "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276}, 1.7,
    ),
    "o200k_base": NamedEncoding(
        "o200k_base", _OPENAI + "o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "o200k", {ENDOFTEXT: 199999, "<|endofprompt|>": 200018}, 3.6,
    ),
}


RANK_FILE_LIMIT = 64 * MB  # o200k_base, the largest rank file, is a few MB

# -- .tiktoken rank files -----------------------------------------------------------------------
def parse_rank_file(data: bytes, source: str = "the rank file") -> dict[bytes, int]:
    """Parse `.tiktoken` content ("base64 rank" per line) with an error naming the bad line."""
    ranks: dict[bytes, int] = {}
    for number, line in enumerate(data.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            token_b64, rank_text = line.split()
            token = base64.b64decode(token_b64, validate=True)
            rank = int(rank_text)
        except (ValueError, binascii.Error):
            # The line itself is not repeated: the file may be anything (a private file too).
            raise TokenizerError(
                f"Line {number} of {source} is not 'base64-token rank'. "
                f"Is it really a .tiktoken rank file?"
            ) from None
        if token in ranks:
            raise TokenizerError(f"Line {number} of {source} repeats an earlier token.")
        ranks[token] = rank
    if not ranks:
        raise TokenizerError(f"{source} holds no tokens.")
    return ranks


def format_rank_file(ranks: Mapping[bytes, int]) -> bytes:
    """The `.tiktoken` text of a rank table, in rank order."""
    lines = [base64.b64encode(t) + b" " + str(r).encode() for t, r in
             sorted(ranks.items(), key=lambda kv: kv[1])]
    return b"\n".join(lines) + b"\n"


# -- tiktoken's cache -----------------------------------------------------------------------------
def tiktoken_cache_dir() -> Path | None:
    """The folder tiktoken caches encodings in (None when TIKTOKEN_CACHE_DIR="" turns it off)."""
    for variable in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if variable in os.environ:
            return Path(os.environ[variable]) if os.environ[variable] else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def cache_path(info: NamedEncoding) -> Path | None:
    """Where tiktoken keeps this encoding's file: the cache folder / sha1(url)."""
    folder = tiktoken_cache_dir()
    return folder / hashlib.sha1(info.url.encode()).hexdigest() if folder else None


def _cached_file(info: NamedEncoding) -> Path | None:
    """The cached rank file if present and intact (a file failing the hash is not cached)."""
    path = cache_path(info)
    if path is None or not path.is_file():
        return None
    try:
        intact = net.file_sha256(path) == info.sha256
    except OSError:
        return None
    return path if intact else None


def _lookup(name: str) -> NamedEncoding:
    try:
        return NAMED_ENCODINGS[name]
    except KeyError:
        raise TokenizerError(
            f"Unknown encoding {name!r}; the named encodings are {', '.join(NAMED_ENCODINGS)}."
        ) from None


def _cache_note() -> str:
    folder = tiktoken_cache_dir()
    return f"TIKTOKEN_CACHE_DIR (now {str(folder) if folder else 'empty: caching off'})"


def _unavailable(name: str, why: str) -> str:
    return (
        f"The tiktoken encoding {name!r} is not available: {why}. Put its file in "
        f"{_cache_note()} by loading it once while online, or load a .tiktoken rank file "
        f"instead (e.g. gpt2.tiktoken)."
    )


def named_encoding_status(name: str) -> tuple[bool, str]:
    """(available, reason) for a named encoding — quickly, without downloading anything.

    Not cached and online: a TCP probe of the server (at most a couple of seconds, remembered
    for half a minute). Offline (`GPTSTUDIO_OFFLINE=1`): no network at all.
    """
    if name not in NAMED_ENCODINGS:
        return False, f"Unknown encoding {name!r}."
    info = NAMED_ENCODINGS[name]
    folder = tiktoken_cache_dir()
    if folder is None:
        return False, _unavailable(name, "TIKTOKEN_CACHE_DIR is empty, which turns the cache off")
    if _cached_file(info) is not None:
        return True, f"Cached in {folder}."
    if net.offline():
        return False, _unavailable(name, f"it is not cached and {OFFLINE_ENV} is set (set "
                                         f"{OFFLINE_ENV}=0 to allow downloads)")
    if not net.reachable(info.url):
        return False, _unavailable(name, "it is not cached and its server cannot be reached")
    return True, f"Not cached yet: {info.size_mb} MB will be downloaded into {folder}."


def named_encoding_statuses() -> dict[str, tuple[bool, str]]:
    """`named_encoding_status` of each of APP_ENCODINGS (one probe at most: they share a host)."""
    return {name: named_encoding_status(name) for name in APP_ENCODINGS}


def _ensure_cached(name: str, info: NamedEncoding,
                   progress: Callable[[DownloadProgress], None] | None,
                   cancel: threading.Event | None) -> Path:
    """The cached rank file, downloading it through `net.fetch` when it is missing."""
    path = cache_path(info)
    if path is None:
        raise TokenizerError(
            _unavailable(name, "TIKTOKEN_CACHE_DIR is empty, which turns the cache off"))
    if _cached_file(info) is not None:
        return path
    try:  # GPTSTUDIO_OFFLINE=1 stops this before any connection
        net.fetch(info.url, path, sha256=info.sha256, timeout=DOWNLOAD_TIMEOUT,
                  progress=progress, cancel=cancel)
    except DownloadError as exc:
        raise TokenizerError(
            f"The tiktoken encoding {name!r} is not cached in {_cache_note()}. {exc} Or load a "
            f".tiktoken rank file instead (e.g. gpt2.tiktoken)."
        ) from None
    return path


_encodings: dict[str, tiktoken.Encoding] = {}  # built once per process from a checked file


def _named_encoding(info: NamedEncoding, path: Path) -> tiktoken.Encoding:
    """tiktoken's Encoding for a named encoding, from its checked rank file (never a download)."""
    if info.tiktoken_name not in _encodings:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TokenizerError(f"Cannot read the rank file {path}: {exc.strerror}.") from None
        _encodings[info.tiktoken_name] = tiktoken.Encoding(
            name=info.tiktoken_name,
            pat_str=pattern_regex(info.pattern),
            mergeable_ranks=parse_rank_file(data, str(path)),
            special_tokens=dict(info.special_tokens),
        )
    return _encodings[info.tiktoken_name]


class TiktokenTokenizer(BPETokenizer):
    """A BPE whose ranks come from tiktoken: a named encoding or a `.tiktoken` file."""

    kind = "tiktoken"

    def __init__(self, *, ranks: Mapping[bytes, int] | None, source: dict, pattern: str,
                 special_tokens: Mapping[str, int], name: str,
                 encoding: tiktoken.Encoding | None = None, rank_file: Path | None = None):
        """Prefer `named` and `from_file`. `rank_file` is read when ranks are first needed."""
        self.source = dict(source)
        self._rank_file = rank_file
        super().__init__(ranks, pattern=pattern, special_tokens=special_tokens, name=name,
                         encoding=encoding)

    @classmethod
    def named(cls, name: str, *, progress: Callable[[DownloadProgress], None] | None = None,
              cancel: threading.Event | None = None) -> TiktokenTokenizer:
        """"gpt2", "r50k_base", "cl100k_base" or "o200k_base", from tiktoken's cache.

        A missing file is downloaded once (unless `GPTSTUDIO_OFFLINE=1`): `progress` gets
        `DownloadProgress`, `cancel` stops it with `Cancelled`.
        """
        info = _lookup(name)
        path = _ensure_cached(name, info, progress, cancel)
        encoding = _named_encoding(info, path)
        return cls(ranks=None, source={"named": name}, pattern=info.pattern,
                   special_tokens=info.special_tokens, name=name, encoding=encoding,
                   rank_file=path)

    @classmethod
    def from_file(cls, path: str | PathLike[str], pattern: str | None = None,
                  special_tokens: Mapping[str, int] | None = None) -> TiktokenTokenizer:
        """Read a `.tiktoken` rank file. OpenAI's own files are recognised by their sha256 and
        get their pattern and special tokens; others default to the gpt2 pattern and
        <|endoftext|> after the last rank."""
        path = Path(path)
        data = read_regular_file(path, max_bytes=RANK_FILE_LIMIT, what="the rank file",
                                 error=TokenizerError)
        ranks = parse_rank_file(data, str(path))
        digest = hashlib.sha256(data).hexdigest()
        known = next((n for n, i in NAMED_ENCODINGS.items() if i.sha256 == digest
                      and n == i.tiktoken_name), None)
        if known is not None:
            info = NAMED_ENCODINGS[known]
            pattern = pattern or info.pattern
            special_tokens = info.special_tokens if special_tokens is None else special_tokens
        if special_tokens is None:
            special_tokens = {ENDOFTEXT: len(ranks)}
        label = f"{known} ({path.name})" if known else path.name
        # The absolute path: a saved tokenizer (a run's) must find its ranks from any folder.
        return cls(ranks=ranks, source={"file": str(path.resolve()), "sha256": digest},
                   pattern=pattern or "gpt2", special_tokens=special_tokens, name=label)

    @property
    def vocab_size(self) -> int:
        if self._ranks is None and self._encoding is not None:
            return self._encoding.n_vocab  # known without reading the rank table
        return super().vocab_size

    def _load_ranks(self) -> dict[bytes, int]:
        if self._rank_file is None:
            raise TokenizerError(f"{self.name} has no rank table.")
        try:
            data = self._rank_file.read_bytes()
        except OSError as exc:
            raise TokenizerError(f"Cannot read the rank file {self._rank_file}: "
                                 f"{exc.strerror}.") from None
        return parse_rank_file(data, str(self._rank_file))

    def _payload(self) -> dict:
        return {
            "kind": self.kind,
            "name": self.name,
            "source": self.source,
            "pattern": self.pattern,
            "pattern_regex": self.pattern_regex,
            "special_tokens": dict(sorted(self.special_tokens.items(), key=lambda kv: kv[1])),
        }
