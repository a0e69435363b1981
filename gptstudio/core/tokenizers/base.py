"""The one interface every tokenizer offers, and the special-token policy they share.

A tokenizer turns text into a list of integer ids and back. Special tokens such as
`<|endoftext|>` are strings that map to one reserved id each; whether such a string inside the
text is read as the special token or refused is the caller's explicit choice (`allowed_special`),
exactly as in tiktoken:

- "none" (the default): a special token inside the text raises `TokenizerError`, because
  text from a user or a file must not silently inject control tokens;
- "all" or a set of names: those specials become their ids (the rest still raise);
- `encode_ordinary(text)`: specials are plain text, split like any other characters.

Leaves out how text becomes ids (each subclass) and the file format (`io.py`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import operator
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from os import PathLike

import regex

from gptstudio.core.errors import TokenizerError

ENDOFTEXT = "<|endoftext|>"

# The saved form starts with these two fields (docs/TOKENIZER_FORMAT.md).
FORMAT_NAME = "gptstudio-tokenizer"
FORMAT_VERSION = 1

AllowedSpecial = str | set[str] | frozenset[str]


def special_split_regex(specials: Sequence[str]) -> regex.Pattern | None:
    """A regex that finds any of the special tokens (longest first), or None if there are none."""
    return _special_split_regex(tuple(sorted(specials)))


@functools.lru_cache(maxsize=64)  # encode() is called often with the same few specials
def _special_split_regex(specials: tuple[str, ...]) -> regex.Pattern | None:
    if not specials:
        return None
    # Longest first, so that "<|a|>" is not found inside a longer special "<|a|>x".
    ordered = sorted(specials, key=lambda s: (-len(s), s))
    return regex.compile("|".join(regex.escape(s) for s in ordered))


def fix_surrogates(text: str) -> str:
    """Join surrogate pairs and replace lone surrogates by U+FFFD, as tiktoken does.

    Python strings may hold lone surrogates (e.g. from `os.fsdecode`), which have no UTF-8 form.
    """
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class Tokenizer(ABC):
    """Text <-> ids. Subclasses set `kind`, `name` and `special_tokens` and implement the rest."""

    kind: str = ""
    name: str = ""
    special_tokens: dict[str, int]

    # -- what every tokenizer implements ------------------------------------------------------
    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids, special tokens included (ids run from 0 to vocab_size - 1)."""

    @abstractmethod
    def encode_ordinary(self, text: str) -> list[int]:
        """Encode text, treating special-token strings as ordinary text."""

    @abstractmethod
    def token_bytes(self, id: int) -> bytes:
        """The bytes one id stands for (a special token's bytes are its UTF-8 text)."""

    @abstractmethod
    def _payload(self) -> dict:
        """The kind-specific fields of the saved form (everything but format and version)."""

    def _encode_with_specials(self, text: str, allowed: frozenset[str]) -> list[int]:
        """Encode text whose allowed specials become ids (the default goes piece by piece)."""
        ids: list[int] = []
        for piece, special_id in self.iter_special_segments(text, allowed):
            if special_id is None:
                ids.extend(self.encode_ordinary(piece))
            else:
                ids.append(special_id)
        return ids

    # -- shared behaviour ---------------------------------------------------------------------
    @property
    def eot_id(self) -> int | None:
        """The id of "<|endoftext|>", or None when this tokenizer has no such token."""
        return self.special_tokens.get(ENDOFTEXT)

    def encode(self, text: str, allowed_special: AllowedSpecial = "none") -> list[int]:
        """Encode text; `allowed_special` says which special tokens in it become ids (see top)."""
        allowed = self.check_specials(text, allowed_special)
        if not allowed:
            return self.encode_ordinary(text)
        return self._encode_with_specials(text, allowed)

    def decode(self, ids: Sequence[int]) -> str:
        """Ids back to text; byte sequences that are not valid UTF-8 become U+FFFD."""
        return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", errors="replace")

    def token_str(self, id: int) -> str:
        """A readable form of one token (bytes decoded with U+FFFD for partial characters)."""
        return self.token_bytes(id).decode("utf-8", errors="replace")

    def to_dict(self) -> dict:
        """The saved form: a JSON-able dict described in docs/TOKENIZER_FORMAT.md."""
        return {"format": FORMAT_NAME, "version": FORMAT_VERSION, **self._payload()}

    def save(self, path: str | PathLike[str]) -> None:
        """Write the tokenizer as versioned JSON, atomically (see docs/TOKENIZER_FORMAT.md)."""
        from gptstudio.core.tokenizers.io import save_tokenizer  # io imports the subclasses

        save_tokenizer(self, path)

    def fingerprint(self) -> str:
        """sha256 of the canonical saved form: equal fingerprints mean equal tokenizers."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=True,
                               separators=(",", ":"))
        return hashlib.sha256(canonical.encode("ascii")).hexdigest()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} vocab_size={self.vocab_size}>"

    # -- helpers for subclasses ---------------------------------------------------------------
    def check_id(self, id: int) -> None:
        """Raise TokenizerError unless id is an integer with 0 <= id < vocab_size."""
        try:
            operator.index(id)  # accepts numpy integers, refuses floats and strings
        except TypeError:
            raise TokenizerError(f"Token ids must be integers, not {id!r}.") from None
        if not 0 <= id < self.vocab_size:
            raise TokenizerError(
                f"Token id {id} is outside this tokenizer's vocabulary (0..{self.vocab_size - 1})."
            )

    def check_specials(self, text: str, allowed_special: AllowedSpecial) -> frozenset[str]:
        """Resolve `allowed_special` to a set and raise if the text holds a disallowed special."""
        if allowed_special == "none":
            allowed: frozenset[str] = frozenset()
        elif allowed_special == "all":
            allowed = frozenset(self.special_tokens)
        elif isinstance(allowed_special, (set, frozenset)):
            unknown = sorted(set(allowed_special) - set(self.special_tokens))
            if unknown:
                raise TokenizerError(
                    f"{unknown[0]!r} is not a special token of {self.name}; "
                    f"its special tokens are {sorted(self.special_tokens)}."
                )
            allowed = frozenset(allowed_special)
        else:
            raise TokenizerError(
                f"allowed_special must be 'none', 'all' or a set of special tokens, "
                f"not {allowed_special!r}."
            )
        # str.find is a fast C scan; with a handful of specials it beats one regex search.
        found = [(text.find(s), s) for s in self.special_tokens if s not in allowed]
        found = [(position, s) for position, s in found if position >= 0]
        if found:
            position, special = min(found)
            raise TokenizerError(
                f"The text contains the special token {special!r} at position "
                f"{position}; pass allowed_special={{{special!r}}} (or 'all') to "
                f"encode it as a special token, or use encode_ordinary to treat it as text."
            )
        return allowed

    def iter_special_segments(
        self, text: str, allowed: frozenset[str]
    ) -> Iterator[tuple[str, int | None]]:
        """Yield (ordinary text, None) and (special token, its id) in text order."""
        finder = special_split_regex(sorted(allowed))
        start = 0
        if finder is not None:
            for match in finder.finditer(text):
                if match.start() > start:
                    yield text[start:match.start()], None
                yield match.group(), self.special_tokens[match.group()]
                start = match.end()
        if start < len(text):
            yield text[start:], None
