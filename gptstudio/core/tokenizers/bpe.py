"""Byte-level BPE: a readable pure-Python encoder and a fast one through tiktoken, same ids.

A byte-level BPE tokenizer is a list of *ranks*: every token is a byte string, and its id is its
rank. The 256 single bytes are the first tokens, and each later token is the concatenation of two
earlier ones (a *merge*). To encode, the text is cut into pieces with a regex (`patterns.py`),
and inside each piece we start from single bytes and repeatedly join the adjacent pair whose
joined bytes have the lowest rank — until no adjacent pair is a token:

    ranks: b"h"=104 b"e"=101 b"l"=108 b"o"=111 ... b"ll"=256 b"he"=257 b"hell"=258
    "hello" -> [h, e, l, l, o] -> [h, e, ll, o] -> [he, ll, o] -> [hell, o] -> [258, 111]

tiktoken runs exactly this algorithm in Rust on the same ranks, so `encode` (tiktoken) and
`encode_slow` (the loop above, in Python) give identical ids; the tests check it on real text
and on random Unicode. The same code reads OpenAI's rank files (`tiktoken_named.py`), whose
single bytes are not in byte order: everything here works from ranks alone.

Leaves out training (`bpe_train.py`) and files (`io.py`).
"""

from __future__ import annotations

import operator
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import tiktoken

from gptstudio.core.errors import TokenizerError
from gptstudio.core.tokenizers.base import (
    ENDOFTEXT,
    AllowedSpecial,
    Tokenizer,
    fix_surrogates,
)
from gptstudio.core.tokenizers.patterns import compile_pattern, pattern_regex, split_text

if TYPE_CHECKING:  # bpe_train imports this module, so only for the type checker
    from gptstudio.core.tokenizers.bpe_train import MergeEvent


def bpe_encode_piece(piece: bytes, ranks: Mapping[bytes, int], max_rank: int | None = None
                     ) -> list[bytes]:
    """Split one pre-tokenized piece into tokens by merging the lowest-rank adjacent pair.

    `max_rank` (used to recover merges) ignores tokens of that rank or above.

    >>> bpe_encode_piece(b"hello", {b"ll": 256, b"he": 257, b"hell": 258})
    [b'hell', b'o']
    """
    parts = [piece[i:i + 1] for i in range(len(piece))]
    while len(parts) > 1:
        # Find the leftmost adjacent pair whose concatenation has the lowest rank.
        best_rank, best_index = None, -1
        for i in range(len(parts) - 1):
            rank = ranks.get(parts[i] + parts[i + 1])
            if rank is None or (max_rank is not None and rank >= max_rank):
                continue
            if best_rank is None or rank < best_rank:
                best_rank, best_index = rank, i
        if best_rank is None:
            break  # no adjacent pair is a token: this piece is done
        parts[best_index:best_index + 2] = [parts[best_index] + parts[best_index + 1]]
    return parts


def check_ranks(ranks: Mapping[bytes, int]) -> None:
    """Raise TokenizerError unless ranks are 0..N-1 and the 256 single bytes have ranks 0..255.

    (GPT-2's and GPT-4's rank files have that shape; the single bytes are in another order.)
    """
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise TokenizerError("Token ranks must be the numbers 0..N-1, each used once.")
    missing = [b for b in range(256) if bytes([b]) not in ranks]
    if missing:
        raise TokenizerError(
            f"A byte-level BPE needs all 256 single bytes as tokens; {len(missing)} are missing "
            f"(e.g. byte {missing[0]})."
        )
    if any(ranks[bytes([b])] >= 256 for b in range(256)):
        raise TokenizerError("The 256 single bytes must have the first ranks, 0..255.")


class BPETokenizer(Tokenizer):
    """A byte-level BPE given by its ranks, a split pattern and special tokens."""

    kind = "bpe"

    def __init__(
        self,
        ranks: Mapping[bytes, int] | None,
        *,
        pattern: str = "gpt2",
        special_tokens: Mapping[str, int] | None = None,
        name: str | None = None,
        merges: Sequence[tuple[int, int]] | None = None,
        encoding: tiktoken.Encoding | None = None,
    ):
        """Prefer the named constructors `train`, `from_merges` and `from_ranks`.

        `ranks` maps token bytes to ids 0..N-1; `special_tokens` maps strings to ids >= N.
        A subclass may pass ranks=None and provide them lazily through `_load_ranks`, and may
        pass the `encoding` it already has.
        """
        self.pattern = pattern
        self.pattern_regex = pattern_regex(pattern)
        self._split = compile_pattern(self.pattern_regex)
        self._ranks: dict[bytes, int] | None = None
        self._vocab: list[bytes] | None = None  # id -> bytes, built when first needed
        if ranks is not None:
            check_ranks(ranks)
            self._ranks = dict(ranks)
        self._merges = [tuple(m) for m in merges] if merges is not None else None
        self._encoding = encoding
        self.special_tokens = dict(special_tokens or {})
        self._check_special_ids()
        self.name = name or f"BPE {self.vocab_size} ({pattern} pattern)"

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def train(cls, text: str, vocab_size: int, pattern: str = "gpt2",
              special_tokens: Sequence[str] = (ENDOFTEXT,),
              progress: Callable[[MergeEvent], None] | None = None,
              cancel: threading.Event | None = None) -> BPETokenizer:
        """Learn merges from text until the vocabulary has `vocab_size` ids (see bpe_train.py).

        `progress` is called with a MergeEvent after each merge; setting `cancel` (a
        threading.Event) stops between two merges with `Cancelled`.
        """
        from gptstudio.core.tokenizers.bpe_train import train_bpe  # bpe_train imports us

        return train_bpe(text, vocab_size, pattern=pattern, special_tokens=special_tokens,
                         progress=progress, cancel=cancel)

    @classmethod
    def from_merges(cls, merges: Sequence[tuple[int, int]], pattern: str = "gpt2",
                    special_tokens: Sequence[str] = (ENDOFTEXT,), name: str | None = None,
                    byte_ids: Sequence[int] | None = None) -> BPETokenizer:
        """Build from a merge list: merge i joins two earlier ids into id 256 + i.

        `byte_ids[b]` is the id of the single byte b (default: b itself). Special tokens get
        the ids after the last merge, in the order given.
        """
        ranks = ranks_from_merges(merges, byte_ids)
        specials = {s: len(ranks) + k for k, s in enumerate(special_tokens)}
        return cls(ranks, pattern=pattern, special_tokens=specials, name=name,
                   merges=[(int(a), int(b)) for a, b in merges])

    @classmethod
    def from_ranks(cls, ranks: Mapping[bytes, int], pattern: str = "gpt2",
                   special_tokens: Mapping[str, int] | None = None, name: str | None = None
                   ) -> BPETokenizer:
        """Build from a rank table such as a `.tiktoken` file (merges are recovered on demand).

        Without `special_tokens`, "<|endoftext|>" gets the id after the last rank (as in GPT-2).
        """
        if special_tokens is None:
            special_tokens = {ENDOFTEXT: len(ranks)}
        return cls(ranks, pattern=pattern, special_tokens=special_tokens, name=name)

    # -- what a byte-level BPE is -------------------------------------------------------------
    @property
    def ranks(self) -> dict[bytes, int]:
        """Token bytes -> id for every ordinary (non-special) token."""
        if self._ranks is None:
            ranks = self._load_ranks()
            check_ranks(ranks)
            self._ranks = ranks
        return self._ranks

    def _load_ranks(self) -> dict[bytes, int]:
        raise TokenizerError("This tokenizer has no rank table.")  # subclasses load lazily

    @property
    def n_ordinary(self) -> int:
        """Number of ordinary tokens (256 bytes + merges); special ids come after."""
        return len(self.ranks)

    @property
    def merges(self) -> list[tuple[int, int]]:
        """The merge list: merge i is the pair of ids that makes the token of rank 256 + i."""
        if self._merges is None:
            self._merges = recover_merges(self.ranks)
        return list(self._merges)

    @property
    def byte_ids(self) -> list[int]:
        """byte_ids[b] = the id of the single byte b."""
        ranks = self.ranks
        return [ranks[bytes([b])] for b in range(256)]

    @property
    def vocab_size(self) -> int:
        return max([self.n_ordinary, *(i + 1 for i in self.special_tokens.values())])

    # -- the fast path: tiktoken on our ranks --------------------------------------------------
    @property
    def encoding(self) -> tiktoken.Encoding:
        """A tiktoken.Encoding with exactly our ranks, pattern and special tokens."""
        if self._encoding is None:
            self._encoding = tiktoken.Encoding(
                name=f"gptstudio-{self.kind}",  # a label only
                pat_str=self.pattern_regex,
                mergeable_ranks=self.ranks,
                special_tokens=self.special_tokens,
            )
        return self._encoding

    def encode(self, text: str, allowed_special: AllowedSpecial = "none") -> list[int]:
        allowed = self.check_specials(text, allowed_special)  # our clear error, not tiktoken's
        if not allowed:  # nothing to look for: the plain (and fastest) path
            return self.encoding.encode_ordinary(text)
        return self.encoding.encode(text, allowed_special=set(allowed), disallowed_special=())

    def encode_ordinary(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def decode_bytes(self, ids: Sequence[int]) -> bytes:
        """The bytes of a list of ids, joined."""
        try:
            ids = [operator.index(i) for i in ids]  # ints (numpy ints too), never floats
            return self.encoding.decode_bytes(ids)
        except (KeyError, OverflowError, ValueError, TypeError):
            for id in ids:  # say which id was wrong
                self.token_bytes(id)
            raise TokenizerError("These token ids cannot be decoded.") from None

    def token_bytes(self, id: int) -> bytes:
        self.check_id(id)
        try:
            return self.encoding.decode_single_token_bytes(operator.index(id))
        except KeyError:
            raise TokenizerError(f"Token id {id} is not assigned in {self.name}.") from None

    # -- the readable path: pure Python ---------------------------------------------------------
    def encode_slow(self, text: str, allowed_special: AllowedSpecial = "none") -> list[int]:
        """The same ids as `encode`, computed step by step in Python (see the module docstring)."""
        allowed = self.check_specials(text, allowed_special)
        ranks = self.ranks
        known: dict[str, list[int]] = {}  # a piece met twice is encoded once
        ids: list[int] = []
        for segment, special_id in self.iter_special_segments(fix_surrogates(text), allowed):
            if special_id is not None:
                ids.append(special_id)
                continue
            for piece in split_text(segment, self._split):
                if piece not in known:
                    parts = bpe_encode_piece(piece.encode("utf-8"), ranks)
                    known[piece] = [ranks[part] for part in parts]
                ids.extend(known[piece])
        return ids

    def _payload(self) -> dict:
        return {
            "kind": self.kind,
            "name": self.name,
            "pattern": self.pattern,
            "pattern_regex": self.pattern_regex,
            "byte_ids": self.byte_ids,
            "merges": [[a, b, readable(self._token_of(a) + self._token_of(b))]
                       for a, b in self.merges],
            "special_tokens": dict(sorted(self.special_tokens.items(), key=lambda kv: kv[1])),
        }

    def _token_of(self, id: int) -> bytes:
        """The bytes of an ordinary token, from the rank table (id -> bytes, built once)."""
        if self._vocab is None:
            self._vocab = [b""] * len(self.ranks)
            for token, rank in self.ranks.items():
                self._vocab[rank] = token
        return self._vocab[id]

    def _check_special_ids(self) -> None:
        if self._ranks is None:
            return  # lazily loaded ranks come with a tiktoken.Encoding that checked them
        ids = list(self.special_tokens.values())
        if len(set(ids)) != len(ids) or any(i < len(self._ranks) for i in ids):
            raise TokenizerError(
                "Special tokens need distinct ids after the ordinary tokens "
                f"(>= {len(self._ranks)}), got {self.special_tokens}."
            )
        if not all(isinstance(s, str) and s for s in self.special_tokens):
            raise TokenizerError("Special tokens must be non-empty strings.")


def ranks_from_merges(merges: Sequence[tuple[int, int]], byte_ids: Sequence[int] | None = None
                      ) -> dict[bytes, int]:
    """The rank table of a merge list (see `BPETokenizer.from_merges`).

    >>> ranks_from_merges([(104, 105)])[b"hi"]
    256
    """
    byte_ids = list(range(256)) if byte_ids is None else list(byte_ids)
    if sorted(byte_ids) != list(range(256)):
        raise TokenizerError("The ids of the 256 single bytes must be 0..255, each once.")
    vocab: list[bytes] = [b""] * 256
    for byte, id in enumerate(byte_ids):
        vocab[id] = bytes([byte])
    for index, (left, right) in enumerate(merges):
        if not (0 <= left < len(vocab) and 0 <= right < len(vocab)):
            raise TokenizerError(
                f"Merge {index} joins ids ({left}, {right}), but only ids below "
                f"{len(vocab)} exist at that point."
            )
        vocab.append(vocab[left] + vocab[right])
    ranks = {token: id for id, token in enumerate(vocab)}
    if len(ranks) != len(vocab):
        raise TokenizerError("Two merges build the same bytes, so ids would be ambiguous.")
    return ranks


def readable(token: bytes) -> str:
    """A token's bytes as text for people: UTF-8 where valid, `\\xNN` escapes elsewhere."""
    return token.decode("utf-8", errors="backslashreplace")


def recover_merges(ranks: Mapping[bytes, int]) -> list[tuple[int, int]]:
    """The merge list behind a rank table: which two tokens joined to make each longer one.

    A token of rank r was built from the two parts the BPE produces on its own bytes when only
    ranks below r exist (karpathy/minbpe explains the idea for GPT-4's ranks).
    """
    merges: list[tuple[int, int]] = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) == 1:
            continue
        parts = bpe_encode_piece(token, ranks, max_rank=rank)
        if len(parts) != 2:
            raise TokenizerError(
                f"The token of rank {rank} ({readable(token)!r}) is not the merge of two "
                f"earlier tokens, so these ranks are not a BPE merge list."
            )
        merges.append((ranks[parts[0]], ranks[parts[1]]))
    return merges
