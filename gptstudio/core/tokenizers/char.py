"""The character-level tokenizer: one id per distinct character of a corpus.

The simplest tokenizer there is, and the one of the classic "baby GPT" on Tiny Shakespeare:
the vocabulary is the sorted set of characters seen in the training text, followed by the
special tokens. A character it has never seen cannot be encoded — the error names it and its
position instead of dropping it silently.

A vocabulary can be learnt from a whole text (`from_text`) or from a stream of chunks
(`from_chunks`: a multi-GB corpus read block by block, only the set of characters kept).
`encode_array` is the speed-up the token cache uses: the same ids as `encode`, looked up for a
whole chunk at once with numpy instead of one dictionary lookup per character.

Leaves out anything sub-character (bytes) or multi-character (merges): see `bpe.py`.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from gptstudio.core.errors import Cancelled, TokenizerError
from gptstudio.core.tokenizers.base import ENDOFTEXT, Tokenizer, special_split_regex


def describe_char(ch: str) -> str:
    """A character as a person can read it: its repr, code point and Unicode name."""
    name = unicodedata.name(ch, "")
    return f"{ch!r} (U+{ord(ch):04X}{' ' + name if name else ''})"


@dataclass(frozen=True, slots=True)
class CharScanEvent:
    """How far `CharTokenizer.from_chunks` has read: characters done of the total (0: unknown)
    and the distinct characters seen so far."""

    done_chars: int
    total_chars: int
    n_distinct: int


class CharTokenizer(Tokenizer):
    """Ids 0..len(chars)-1 are the characters in sorted order; special tokens come after."""

    kind = "char"

    def __init__(self, chars: Iterable[str], special_tokens: Sequence[str] = (ENDOFTEXT,)):
        self.chars: list[str] = list(chars)
        if any(len(c) != 1 for c in self.chars):
            raise TokenizerError("Every entry of a character vocabulary must be one character.")
        if len(set(self.chars)) != len(self.chars):
            raise TokenizerError("A character vocabulary lists some character twice.")
        if len(set(special_tokens)) != len(special_tokens) or not all(special_tokens):
            raise TokenizerError("Special tokens must be distinct, non-empty strings.")
        self._id_of = {c: i for i, c in enumerate(self.chars)}
        n = len(self.chars)
        self.special_tokens = {s: n + k for k, s in enumerate(special_tokens)}
        self.name = f"Characters ({n})"

    @classmethod
    def from_text(
        cls, text: str, special_tokens: Sequence[str] = (ENDOFTEXT,)
    ) -> CharTokenizer:
        """Build the vocabulary from a corpus: its distinct characters, sorted by code point.

        Special-token strings in the corpus (documents are joined by "<|endoftext|>") are
        not counted as characters, so they do not add "<", "|", ... to the vocabulary.
        """
        finder = special_split_regex(list(special_tokens))
        plain = finder.sub("", text) if finder is not None else text
        if not plain:
            raise TokenizerError("Cannot build a character vocabulary from an empty text.")
        return cls(sorted(set(plain)), special_tokens)

    @classmethod
    def from_chunks(
        cls, chunks: Iterable[str], special_tokens: Sequence[str] = (ENDOFTEXT,), *,
        total_chars: int = 0, progress: Callable[[CharScanEvent], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> CharTokenizer:
        """`from_text` of the chunks' concatenation, keeping only the set of characters seen.

        The chunks must not cut a special token in two (a corpus's `iter_chunks` never does).
        `progress` gets a `CharScanEvent` after each chunk; `cancel` stops between chunks with
        `Cancelled`.
        """
        finder = special_split_regex(list(special_tokens))
        seen: set[str] = set()
        done = 0
        for chunk in chunks:
            if cancel is not None and cancel.is_set():
                raise Cancelled("Collecting the corpus's characters was cancelled.")
            seen.update(finder.sub("", chunk) if finder is not None else chunk)
            done += len(chunk)
            if progress is not None:
                progress(CharScanEvent(done, total_chars, len(seen)))
        if not seen:
            raise TokenizerError("Cannot build a character vocabulary from an empty text.")
        return cls(sorted(seen), special_tokens)

    @property
    def vocab_size(self) -> int:
        return len(self.chars) + len(self.special_tokens)

    # -- the fast path for whole chunks (the token cache) ----------------------------------------
    @cached_property
    def _id_table(self) -> np.ndarray:
        """id of each code point up to one past the largest known; -1 for unknown characters
        (the last entry is -1: larger code points are clipped onto it)."""
        codes = np.array([ord(c) for c in self.chars], dtype=np.int64)
        table = np.full(int(codes.max(initial=0)) + 2, -1, dtype=np.int64)
        table[codes] = np.arange(len(codes))
        return table

    def encode_array(self, text: str, allowed_special: str | set[str] = "all") -> np.ndarray:
        """`encode(text, allowed_special)` as an int64 array, computed a chunk at a time."""
        allowed = self.check_specials(text, allowed_special)
        parts = [np.array([special_id], dtype=np.int64) if special_id is not None
                 else self._ordinary_array(piece)
                 for piece, special_id in self.iter_special_segments(text, allowed)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def _ordinary_array(self, text: str) -> np.ndarray:
        # UTF-32 gives one 4-byte code point per character (lone surrogates included).
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        ids = np.take(self._id_table, codes, mode="clip")
        if ids.size and ids.min() < 0:
            self.encode_ordinary(text)  # raises the error that names the unknown character
        return ids

    def encode_ordinary(self, text: str) -> list[int]:
        id_of = self._id_of
        try:
            return [id_of[c] for c in text]
        except KeyError:
            # Rare path: find the first unknown character to say where it is.
            for position, ch in enumerate(text):
                if ch not in id_of:
                    raise TokenizerError(
                        f"Character {describe_char(ch)} at position {position} is not in the "
                        f"vocabulary of this character tokenizer ({len(self.chars)} characters "
                        f"from its training text)."
                    ) from None
            raise  # unreachable: a KeyError means some character was unknown

    def token_bytes(self, id: int) -> bytes:
        return self.token_text(id).encode("utf-8")

    def token_text(self, id: int) -> str:
        """The character (or special token) an id stands for."""
        self.check_id(id)
        if id < len(self.chars):
            return self.chars[id]
        return next(s for s, i in self.special_tokens.items() if i == id)

    def decode(self, ids: Sequence[int]) -> str:
        chars, n = self.chars, len(self.chars)
        # Fast path for ordinary ids; anything else (specials, bad ids) goes through token_text.
        return "".join(chars[i] if type(i) is int and 0 <= i < n else self.token_text(i)
                       for i in ids)

    def token_str(self, id: int) -> str:
        return self.token_text(id)

    def _payload(self) -> dict:
        specials = sorted(self.special_tokens, key=self.special_tokens.__getitem__)
        return {
            "kind": self.kind,
            "name": self.name,
            "chars": self.chars,
            "special_tokens": {s: self.special_tokens[s] for s in specials},
        }
