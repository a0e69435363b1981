"""A person's tokenizer choice as one short string, and the one resolver that makes the tokenizer.

    "char"                      the corpus's characters (+ <|endoftext|>)
    "bpe:512"                   a byte-level BPE of 512 ids trained on the corpus, GPT-2's pattern
    "bpe:512:gpt4"              the same with GPT-4's split pattern
    "gpt2", "r50k_base", "cl100k_base", "o200k_base"    OpenAI's encodings ("tiktoken:NAME" too)
    "path/to/tok.json", "path/to/ranks.tiktoken"        a saved tokenizer or a rank file
                                                        ("file:PATH" for any other path)

The CLI's `--tokenizer`, the app's tokenizer picker and the tests all speak this language, and only
this module interprets it (STYLE.md 17). `parse_tokenizer_spec` turns a string into a
`TokenizerSpec` (a frozen dataclass a widget can show and edit) without touching the disk or the
network; `.to_spec()` gives the short string back. `resolve_tokenizer` builds the tokenizer:
training a BPE reports `MergeEvent`s, downloading a named encoding `DownloadProgress`, and both
stop with `Cancelled` when `cancel` is set.

    >>> parse_tokenizer_spec("bpe:512:gpt4")
    TokenizerSpec(kind='bpe', vocab_size=512, pattern='gpt4', name=None, path=None)
    >>> parse_tokenizer_spec("tiktoken:cl100k_base").to_spec()
    'cl100k_base'
    >>> [tokenizer_spec_label(s) for s in ("char", "bpe:512", "gpt2", "runs/a/tokenizer.json")]
    ['Characters', 'BPE 512 (gpt2 pattern)', 'tiktoken gpt2', 'tokenizer.json']

Left out: the tokenizers themselves and their files (`char.py`, `bpe*.py`, `tiktoken_named.py`,
`io.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, Union

from gptstudio.core.errors import TokenizerError
from gptstudio.core.net import DownloadProgress
from gptstudio.core.tokenizers.base import Tokenizer
from gptstudio.core.tokenizers.bpe import BPETokenizer
from gptstudio.core.tokenizers.bpe_train import MergeEvent, WordCountEvent, train_bpe_chunks
from gptstudio.core.tokenizers.char import CharScanEvent, CharTokenizer
from gptstudio.core.tokenizers.io import load_tokenizer
from gptstudio.core.tokenizers.patterns import TRAINABLE_PATTERNS
from gptstudio.core.tokenizers.tiktoken_named import NAMED_ENCODINGS, TiktokenTokenizer

TokenizerKind = Literal["char", "bpe", "tiktoken", "file"]
Progress = Callable[[Union[MergeEvent, DownloadProgress, WordCountEvent, CharScanEvent]],
                    None]

# The smallest byte-level BPE: the 256 bytes and <|endoftext|>.
MIN_BPE_VOCAB = 257
# File names that say "tokenizer file" on their own, without a folder in front.
FILE_SUFFIXES = (".json", ".tiktoken")
_FORMS = ("'char', 'bpe:N', 'bpe:N:gpt4', one of " + ", ".join(NAMED_ENCODINGS)
          + ", or the path of a saved tokenizer or .tiktoken file")


@dataclass(frozen=True)
class TokenizerSpec:
    """A parsed tokenizer choice; only the fields of its kind are set (the others are None).

    kind "char"; "bpe" with vocab_size and pattern ("gpt2" | "gpt4"); "tiktoken" with name (a key
    of NAMED_ENCODINGS); "file" with path. Invalid fields raise `TokenizerError`.
    """

    kind: TokenizerKind
    vocab_size: int | None = None
    pattern: str | None = None
    name: str | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        wanted = {"char": (), "bpe": ("vocab_size", "pattern"), "tiktoken": ("name",),
                  "file": ("path",)}
        if self.kind not in wanted:
            raise TokenizerError(f"Unknown tokenizer kind {self.kind!r}; choose one of "
                                 f"{', '.join(wanted)}.")
        for field in ("vocab_size", "pattern", "name", "path"):
            given = getattr(self, field) is not None
            if given != (field in wanted[self.kind]):
                state = "needs" if not given else "takes no"
                raise TokenizerError(f"A {self.kind!r} tokenizer choice {state} {field}.")
        if self.kind == "bpe":
            size = self.vocab_size
            if isinstance(size, bool) or not isinstance(size, int) or size < MIN_BPE_VOCAB:
                raise TokenizerError(
                    f"A BPE vocabulary needs at least {MIN_BPE_VOCAB} ids (256 bytes and "
                    f"<|endoftext|>); got {size!r}."
                )
            if self.pattern not in TRAINABLE_PATTERNS:
                raise TokenizerError(f"Choose the split pattern 'gpt2' or 'gpt4' for a BPE, not "
                                     f"{self.pattern!r}.")
        if self.kind == "tiktoken" and self.name not in NAMED_ENCODINGS:
            raise TokenizerError(f"Unknown encoding {self.name!r}; the named encodings are "
                                 f"{', '.join(NAMED_ENCODINGS)}.")
        if self.kind == "file" and not str(self.path).strip():
            raise TokenizerError("A tokenizer file choice needs a path.")

    @property
    def needs_corpus(self) -> bool:
        """Whether the tokenizer is built from the corpus's text (char and BPE)."""
        return self.kind in ("char", "bpe")

    @property
    def label(self) -> str:
        """A short human label: "Characters", "BPE 512 (gpt2 pattern)", "tiktoken gpt2", a file."""
        if self.kind == "char":
            return "Characters"
        if self.kind == "bpe":
            return f"BPE {self.vocab_size} ({self.pattern} pattern)"
        if self.kind == "tiktoken":
            return f"tiktoken {self.name}"
        return Path(str(self.path)).name or str(self.path)

    def to_spec(self) -> str:
        """The short string this choice parses from (the canonical form)."""
        if self.kind == "char":
            return "char"
        if self.kind == "bpe":
            suffix = "" if self.pattern == "gpt2" else f":{self.pattern}"
            return f"bpe:{self.vocab_size}{suffix}"
        if self.kind == "tiktoken":
            return str(self.name)
        path = str(self.path)
        try:  # a bare path unless it would read as something else ("char", "gpt2", ...)
            plain = parse_tokenizer_spec(path) == self
        except TokenizerError:
            plain = False
        return path if plain else f"file:{path}"


def parse_tokenizer_spec(spec: str) -> TokenizerSpec:
    """The `TokenizerSpec` a string names; `TokenizerError` with the accepted forms if none.

    It reads no file and downloads nothing. A string counts as a path when it is "file:PATH",
    has a folder separator, ends in .json or .tiktoken, starts with "~" or ".", or names an
    existing file.
    """
    text = spec.strip() if isinstance(spec, str) else ""
    if not text:
        raise TokenizerError(f"No tokenizer was chosen: give {_FORMS}.")
    if text == "char":
        return TokenizerSpec("char")
    if text == "bpe" or text.startswith("bpe:"):
        _, *fields = text.split(":")
        if not 1 <= len(fields) <= 2 or not fields[0].isdigit():
            raise TokenizerError(f"Write a BPE choice as 'bpe:N' or 'bpe:N:gpt4', not {spec!r}.")
        pattern = fields[1] if len(fields) == 2 else "gpt2"
        return TokenizerSpec("bpe", vocab_size=int(fields[0]), pattern=pattern)
    if text.startswith("tiktoken:"):
        return TokenizerSpec("tiktoken", name=text.removeprefix("tiktoken:"))
    if text in NAMED_ENCODINGS:
        return TokenizerSpec("tiktoken", name=text)
    if text.startswith("file:"):
        return TokenizerSpec("file", path=text.removeprefix("file:"))
    if ("/" in text or "\\" in text or text.startswith(("~", "."))
            or text.lower().endswith(FILE_SUFFIXES) or Path(text).is_file()):
        return TokenizerSpec("file", path=text)
    raise TokenizerError(f"Unknown tokenizer {spec!r}: give {_FORMS}.")


def tokenizer_spec_label(spec: str) -> str:
    """`TokenizerSpec.label` of a spec string; a string that does not parse is shown as written."""
    try:
        return parse_tokenizer_spec(spec).label
    except TokenizerError:
        return spec


class ChunkedCorpus(Protocol):
    """What `resolve_tokenizer(corpus=...)` needs of a corpus (a corpora `Corpus`)."""

    n_chars: int

    def iter_chunks(self) -> Iterable[str]: ...


def resolve_tokenizer(
    spec: str | TokenizerSpec,
    corpus_text: str | None = None,
    *,
    corpus: ChunkedCorpus | None = None,
    sample_chars: int | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> Tokenizer:
    """The tokenizer a choice names (a spec string or a parsed `TokenizerSpec`).

    "char" and "bpe:N[:gpt4]" are built from `corpus_text`; BPE training calls `progress` with a
    `MergeEvent` per merge and stops between merges with `Cancelled` when `cancel` is set. A named
    encoding comes from tiktoken's cache, downloaded once if allowed (`progress` then gets
    `DownloadProgress`). Everything else a person can get wrong raises `TokenizerError`.
    With `corpus` instead of `corpus_text` (a corpus larger than memory), char and BPE read it
    chunk by chunk: `progress` then also gets `CharScanEvent`s / `WordCountEvent`s, and a BPE
    counts only a spread sample of about `sample_chars` characters when that is given.
    """
    parsed = spec if isinstance(spec, TokenizerSpec) else parse_tokenizer_spec(spec)
    if parsed.needs_corpus and corpus_text is None and corpus is None:
        raise TokenizerError(
            f"The tokenizer {parsed.to_spec()!r} is built from a corpus; none was given.")
    if parsed.needs_corpus and corpus_text is None and corpus is not None:
        if parsed.kind == "char":
            return CharTokenizer.from_chunks(corpus.iter_chunks(), total_chars=corpus.n_chars,
                                             progress=progress, cancel=cancel)
        return train_bpe_chunks(corpus.iter_chunks(), int(parsed.vocab_size or 0),
                                pattern=str(parsed.pattern), progress=progress, cancel=cancel,
                                total_chars=corpus.n_chars, sample_chars=sample_chars)
    if parsed.kind == "char":
        return CharTokenizer.from_text(str(corpus_text))
    if parsed.kind == "bpe":
        return BPETokenizer.train(str(corpus_text), int(parsed.vocab_size or 0),
                                  pattern=str(parsed.pattern), progress=progress, cancel=cancel)
    if parsed.kind == "tiktoken":
        return TiktokenTokenizer.named(str(parsed.name), progress=progress, cancel=cancel)
    path = Path(str(parsed.path)).expanduser()
    if not path.is_file():
        where = "is a folder, not a tokenizer file" if path.is_dir() else "does not exist"
        raise TokenizerError(f"The tokenizer file {path} {where}.")
    return load_tokenizer(path)
