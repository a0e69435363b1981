"""OpenAI's encodings (gpt2, cl100k_base, o200k_base) and `.tiktoken` rank files.

A `.tiktoken` file is a rank table, one token a line: the token's bytes in base64, a space,
its rank. `TiktokenTokenizer.from_file` reads one chosen by the user; it never needs a network.

The named encodings come through `tiktoken.get_encoding`, which reads them from tiktoken's cache
(`TIKTOKEN_CACHE_DIR`, else `DATA_GYM_CACHE_DIR`, else `<tmp>/data-gym-cache`; each file is named
by the sha1 of its URL and checked against a sha256) and otherwise downloads them — with no
timeout and no offline switch. So we look in the cache ourselves first, download with a timeout
only when allowed (not when `GPTSTUDIO_OFFLINE` is set), and otherwise fail at once with an error
naming `TIKTOKEN_CACHE_DIR` and the `.tiktoken` file option.

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
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from urllib.parse import urlparse

import tiktoken

from gptstudio.core.errors import TokenizerError
from gptstudio.core.tokenizers.base import ENDOFTEXT
from gptstudio.core.tokenizers.bpe import BPETokenizer

OFFLINE_ENV = "GPTSTUDIO_OFFLINE"  # set to 1 to never download named encodings
DOWNLOAD_TIMEOUT = 10.0  # seconds without data before a download gives up
PROBE_TIMEOUT = 2.0  # seconds to decide whether the download server is reachable


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
            shown = line[:60].decode("utf-8", errors="replace")
            raise TokenizerError(
                f"Line {number} of {source} is not 'base64-token rank': {shown!r}. "
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
        intact = hashlib.sha256(path.read_bytes()).hexdigest() == info.sha256
    except OSError:
        return None
    return path if intact else None


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _fetch(url: str, timeout: float) -> bytes:
    """Download a URL (the one place this module touches the network; tests replace it)."""
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _probe(host: str, timeout: float) -> bool:
    """True if a TCP connection to host:443 opens within `timeout` (tests replace it)."""
    import socket

    result: list[bool] = []

    def connect() -> None:  # in a thread, because name lookup itself has no timeout
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=connect, daemon=True)
    worker.start()
    worker.join(timeout + 0.5)
    return bool(result and result[0])


_reachable_memo: dict[str, tuple[float, bool]] = {}


def _reachable(url: str) -> bool:
    """Whether the server of `url` answers; remembered for 30 s (the UI asks for each name)."""
    host = urlparse(url).hostname or ""
    now = time.monotonic()
    if host in _reachable_memo and now - _reachable_memo[host][0] < 30.0:
        return _reachable_memo[host][1]
    ok = _probe(host, PROBE_TIMEOUT)
    _reachable_memo[host] = (now, ok)
    return ok


def _lookup(name: str) -> NamedEncoding:
    try:
        return NAMED_ENCODINGS[name]
    except KeyError:
        raise TokenizerError(
            f"Unknown encoding {name!r}; the named encodings are {', '.join(NAMED_ENCODINGS)}."
        ) from None


def _unavailable(name: str, why: str) -> str:
    folder = tiktoken_cache_dir()
    return (
        f"The tiktoken encoding {name!r} is not available: {why}. Put its file in "
        f"TIKTOKEN_CACHE_DIR (now {str(folder) if folder else 'empty: caching off'}) by loading "
        f"it once while online, or load a .tiktoken rank file instead (e.g. gpt2.tiktoken)."
    )


def named_encoding_status(name: str) -> tuple[bool, str]:
    """(available, reason) for a named encoding — quickly, without downloading anything."""
    if name not in NAMED_ENCODINGS:
        return False, f"Unknown encoding {name!r}."
    info = NAMED_ENCODINGS[name]
    folder = tiktoken_cache_dir()
    if folder is None:
        return False, _unavailable(name, "TIKTOKEN_CACHE_DIR is empty, which turns the cache off")
    if _cached_file(info) is not None:
        return True, f"Cached in {folder}."
    if _offline():
        return False, _unavailable(name, f"it is not cached and {OFFLINE_ENV} is set")
    if not _reachable(info.url):
        return False, _unavailable(name, "it is not cached and its server cannot be reached")
    return True, f"Not cached yet: {info.size_mb} MB will be downloaded into {folder}."


def _ensure_cached(name: str, info: NamedEncoding) -> Path:
    """The cached rank file, downloading it (with a timeout) only when allowed."""
    path = cache_path(info)
    if path is None:
        raise TokenizerError(
            _unavailable(name, "TIKTOKEN_CACHE_DIR is empty, which turns the cache off"))
    if _cached_file(info) is not None:
        return path
    if _offline():
        raise TokenizerError(_unavailable(name, f"it is not cached and {OFFLINE_ENV} is set"))
    try:
        data = _fetch(info.url, DOWNLOAD_TIMEOUT)
    except OSError as exc:  # URLError, timeouts and refused connections are all OSErrors
        raise TokenizerError(_unavailable(name, f"it is not cached and the download failed "
                                                f"({exc})")) from None
    if hashlib.sha256(data).hexdigest() != info.sha256:
        raise TokenizerError(_unavailable(name, "the downloaded file failed its checksum"))
    from gptstudio.core.atomic import atomic_write_bytes

    atomic_write_bytes(path, data)
    return path


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
    def named(cls, name: str) -> TiktokenTokenizer:
        """"gpt2", "r50k_base", "cl100k_base" or "o200k_base" via tiktoken.get_encoding."""
        info = _lookup(name)
        path = _ensure_cached(name, info)
        try:  # reads the file we just checked in the cache: no network
            encoding = tiktoken.get_encoding(info.tiktoken_name)
        except Exception as exc:  # tiktoken raises many types; none should reach the user raw
            why = f"tiktoken could not load it ({exc})"
            raise TokenizerError(_unavailable(name, why)) from None
        specials = {s: encoding.encode_single_token(s) for s in encoding.special_tokens_set}
        return cls(ranks=None, source={"named": name}, pattern=info.pattern,
                   special_tokens=specials, name=name, encoding=encoding, rank_file=path)

    @classmethod
    def from_file(cls, path: str | PathLike[str], pattern: str | None = None,
                  special_tokens: Mapping[str, int] | None = None) -> TiktokenTokenizer:
        """Read a `.tiktoken` rank file. OpenAI's own files are recognised by their sha256 and
        get their pattern and special tokens; others default to the gpt2 pattern and
        <|endoftext|> after the last rank."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise TokenizerError(f"Cannot read the rank file {path}: {exc.strerror}.") from None
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
        return cls(ranks=ranks, source={"file": str(path), "sha256": digest},
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
