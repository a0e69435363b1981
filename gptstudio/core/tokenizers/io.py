"""Saving and loading tokenizers: GPT Studio's versioned JSON, and `.tiktoken` rank files.

The file format is versioned, human-readable JSON, described in docs/TOKENIZER_FORMAT.md:
a header {"format": "gptstudio-tokenizer", "version": 1, "kind": ...} and the fields of that
kind — a BPE lists its merges one per line, each with the new token as readable text.

Loading is strict: a file that is truncated, foreign, from a newer version, or whose fields do
not agree with each other raises `TokenizerError` saying which — never a KeyError or a half-built
tokenizer. The check is simple: rebuild the tokenizer from the fields, save it again in memory,
and require the same dict. A `.tiktoken` rank file is accepted too.

Leaves out the tokenizers themselves (`char.py`, `bpe.py`, `tiktoken_named.py`) and the
spec strings ("char", "bpe:512", "gpt2", a path) that `spec.py` resolves.
"""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path

from gptstudio.core.atomic import atomic_write_bytes
from gptstudio.core.errors import TokenizerError
from gptstudio.core.readers import MB, read_regular_file
from gptstudio.core.tokenizers.base import FORMAT_NAME, FORMAT_VERSION, Tokenizer
from gptstudio.core.tokenizers.bpe import BPETokenizer, ranks_from_merges
from gptstudio.core.tokenizers.char import CharTokenizer
from gptstudio.core.tokenizers.tiktoken_named import TiktokenTokenizer


def dumps_tokenizer(tokenizer: Tokenizer) -> str:
    """The saved text: JSON with one top-level field a line, and one merge a line."""
    lines = []
    for key, value in tokenizer.to_dict().items():
        if isinstance(value, list) and value and isinstance(value[0], list):
            items = ",\n".join("    " + json.dumps(item, ensure_ascii=False) for item in value)
            text = "[\n" + items + "\n  ]"
        else:
            text = json.dumps(value, ensure_ascii=False)
        lines.append(f"  {json.dumps(key)}: {text}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def save_tokenizer(tokenizer: Tokenizer, path: str | PathLike[str]) -> None:
    """Write `tokenizer` to `path` atomically (a crash leaves the old file or the new one)."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, dumps_tokenizer(tokenizer).encode("utf-8"))
    except OSError as exc:
        raise TokenizerError(f"Cannot save the tokenizer to {path}: {exc.strerror}.") from None


def _looks_like_rank_file(data: bytes) -> bool:
    first = data.lstrip().split(b"\n", 1)[0].split()
    return len(first) == 2 and first[1].isdigit()


TOKENIZER_FILE_LIMIT = 256 * MB  # far above any real vocabulary


def load_tokenizer(path: str | PathLike[str]) -> Tokenizer:
    """Read a tokenizer saved by GPT Studio, or a `.tiktoken` rank file."""
    path = Path(path)
    data = read_regular_file(path, max_bytes=TOKENIZER_FILE_LIMIT, what="the tokenizer file",
                             error=TokenizerError)
    if path.suffix == ".tiktoken" or (not data.lstrip().startswith(b"{")
                                      and _looks_like_rank_file(data)):
        return TiktokenTokenizer.from_file(path)
    try:
        saved = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise TokenizerError(f"{path} is not a tokenizer file (it is not even text).") from None
    except json.JSONDecodeError as exc:
        raise TokenizerError(
            f"{path} is not a valid tokenizer file: its JSON is broken at line {exc.lineno} "
            f"(is it truncated or corrupt?)."
        ) from None
    return tokenizer_from_dict(saved, source=str(path))


def tokenizer_from_dict(saved: object, source: str = "the tokenizer data") -> Tokenizer:
    """Rebuild a tokenizer from its saved dict, with a clear error for anything wrong."""
    if not isinstance(saved, dict) or saved.get("format") != FORMAT_NAME:
        raise TokenizerError(f"{source} is not a GPT Studio tokenizer file.")
    version = saved.get("version")
    if not isinstance(version, int) or version < 1:
        raise TokenizerError(f"{source} has no valid format version.")
    if version > FORMAT_VERSION:
        raise TokenizerError(
            f"{source} was written by a newer GPT Studio (tokenizer format {version}; this "
            f"version reads up to {FORMAT_VERSION})."
        )
    builders = {"char": _char_from_dict, "bpe": _bpe_from_dict, "tiktoken": _tiktoken_from_dict}
    kind = saved.get("kind")
    if kind not in builders:
        raise TokenizerError(f"{source} has an unknown tokenizer kind {kind!r}.")
    try:
        tokenizer = builders[kind](saved)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, TokenizerError):
            raise TokenizerError(f"{source} is not a valid tokenizer file: {exc}") from None
        raise TokenizerError(
            f"{source} is not a valid tokenizer file: a field is missing or has the wrong "
            f"type ({type(exc).__name__}: {exc})."
        ) from None
    rebuilt = tokenizer.to_dict()
    differing = sorted(k for k in set(rebuilt) | set(saved) if rebuilt.get(k) != saved.get(k))
    if differing:
        raise TokenizerError(
            f"{source} is not a valid tokenizer file: its field {differing[0]!r} does not agree "
            f"with the rest (was it edited by hand?)."
        )
    return tokenizer


def _char_from_dict(saved: dict) -> CharTokenizer:
    specials = sorted(saved["special_tokens"].items(), key=lambda kv: kv[1])
    tokenizer = CharTokenizer(saved["chars"], [s for s, _ in specials])
    tokenizer.name = saved["name"]
    return tokenizer


def _bpe_from_dict(saved: dict) -> BPETokenizer:
    merges = [(left, right) for left, right, _readable in saved["merges"]]
    if not all(type(i) is int for pair in merges for i in pair):
        raise TokenizerError("merge ids must be integers.")
    ranks = ranks_from_merges(merges, saved["byte_ids"])
    return BPETokenizer(ranks, pattern=saved["pattern"], special_tokens=saved["special_tokens"],
                        name=saved["name"], merges=merges)


def _tiktoken_from_dict(saved: dict) -> TiktokenTokenizer:
    source = saved["source"]
    if "named" in source:
        tokenizer = TiktokenTokenizer.named(source["named"])
    else:
        if not Path(source["file"]).exists():
            raise TokenizerError(
                f"it reads its ranks from the file {source['file']}, which is not there (was "
                "it moved or deleted?): put the file back there to use this tokenizer.")
        tokenizer = TiktokenTokenizer.from_file(source["file"], pattern=saved["pattern"],
                                                special_tokens=saved["special_tokens"])
        if tokenizer.source["sha256"] != source["sha256"]:
            raise TokenizerError(
                f"the rank file {source['file']} has changed since this tokenizer was saved."
            )
        # Keep the path as saved (one saved before paths were absolute may be relative): the
        # saved form is what the tokenizer's fingerprint, and so the checkpoints, stand for.
        tokenizer.source["file"] = source["file"]
    tokenizer.name = saved["name"]
    return tokenizer
