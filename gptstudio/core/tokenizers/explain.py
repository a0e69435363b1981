"""What each token of a text is: its bytes, the text it covers, where it sits, and its rank.

A byte-level tokenizer cuts *bytes*, so a token's bytes need not be whole characters: "é" is two
bytes, and a BPE that never merged them gives two tokens, neither of which is text on its own.
`explain_text` answers, for every token of a text, which characters it *completes*: a character
belongs to the token holding its last byte. So the tokens' texts join back to the input exactly
(multi-byte characters included), a token inside a character has the text "", and every
character whose bytes straddle a token boundary is listed as a `SplitChar` naming its tokens:

    >>> from gptstudio.core.tokenizers import BPETokenizer
    >>> tok = BPETokenizer.train("the cat sat on the mat " * 20, 262)  # é stays two byte tokens
    >>> spans = explain_text(tok, "the café")
    >>> spans.pieces()
    ['the', ' c', 'a', 'f', '', 'é']
    >>> "".join(spans.pieces()) == "the café"
    True
    >>> [(s.char, s.start, s.tokens) for s in spans.splits]
    [('é', 7, (4, 5))]
    >>> info = token_info(tok, spans, 4)
    >>> info.hex, info.readable, info.text
    ('c3', '⟨c3⟩', '')

Everything is computed on numpy arrays, one pass each, so a megabyte of text is explained in
milliseconds; `token_info` then gives one token's details (for a hover). Offsets are given in
code points (Python's `str` indices) and in UTF-16 code units (what Qt and JavaScript count),
which differ for characters outside the Basic Multilingual Plane such as emoji.

Also here: `TokenStats` (tokens, characters and bytes per token) and `color_slots`, a colour
per token id that is stable across texts. Left out: the merges that built a token
(`lineage.py`), drawing (the app), and text with lone surrogates, which has no UTF-8 form: it is
explained as tokenizers read it, with each lone surrogate replaced by U+FFFD.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from gptstudio.core.errors import TokenizerError
from gptstudio.core.tokenizers.base import AllowedSpecial, Tokenizer, fix_surrogates
from gptstudio.core.tokenizers.bpe import BPETokenizer
from gptstudio.core.tokenizers.char import CharTokenizer
from gptstudio.core.tokenizers.pieces import readable


@dataclass(frozen=True)
class SplitChar:
    """A character whose UTF-8 bytes are spread over several tokens (drawn as one group)."""

    char: str
    start: int  # its index in the text (code points)
    utf16_start: int  # the same in UTF-16 code units
    tokens: tuple[int, ...]  # indices (positions in the token list) of the tokens holding it


@dataclass(frozen=True)
class TokenStats:
    """How much text a token holds on average: the compression a tokenizer achieves."""

    n_tokens: int
    n_chars: int
    n_bytes: int  # UTF-8

    @property
    def chars_per_token(self) -> float:
        return self.n_chars / self.n_tokens if self.n_tokens else math.nan

    @property
    def bytes_per_token(self) -> float:
        return self.n_bytes / self.n_tokens if self.n_tokens else math.nan


@dataclass(frozen=True)
class TokenInfo:
    """One token, as a hover shows it."""

    index: int  # position in the token list
    id: int
    data: bytes
    text: str  # the characters it completes (see the module docstring)
    start: int  # text = the input's [start, end) in code points
    end: int
    byte_start: int
    byte_end: int
    special: bool
    rank: int | None  # a byte-level BPE's rank of the token (= its id); None for characters
    merge: int | None  # which merge made it (rank - 256); None for single bytes and specials

    @property
    def hex(self) -> str:
        """Its bytes in hex, space-separated: "20 6c 65"."""
        return " ".join(f"{b:02x}" for b in self.data)

    @property
    def readable(self) -> str:
        """Its bytes as text, loose bytes of a split character as hex (`pieces.readable`)."""
        return readable(self.data)


@dataclass(frozen=True, eq=False)
class TokenSpans:
    """The tokens of one text with their offsets, as arrays (index i = the i-th token)."""

    text: str  # the text explained (lone surrogates replaced, see the module docstring)
    ids: np.ndarray  # int64 (n,)
    byte_offsets: np.ndarray  # int64 (n + 1,): token i holds bytes [off[i], off[i + 1])
    char_starts: np.ndarray  # int64 (n,): token i's text is text[char_starts[i]:char_ends[i]]
    char_ends: np.ndarray
    utf16_starts: np.ndarray  # the same offsets in UTF-16 code units
    utf16_ends: np.ndarray
    special: np.ndarray  # bool (n,)
    splits: tuple[SplitChar, ...]
    n_bytes: int

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_chars(self) -> int:
        return len(self.text)

    @property
    def stats(self) -> TokenStats:
        return TokenStats(len(self.ids), len(self.text), self.n_bytes)

    def piece(self, index: int) -> str:
        """The text token `index` completes."""
        return self.text[int(self.char_starts[index]):int(self.char_ends[index])]

    def pieces(self) -> list[str]:
        """Every token's text; they join to `text`."""
        text = self.text
        return [text[a:b] for a, b in zip(self.char_starts.tolist(), self.char_ends.tolist())]

    def token_at(self, char_index: int, *, utf16: bool = False) -> int | None:
        """The token whose text holds the character at `char_index` (None past the end)."""
        ends = self.utf16_ends if utf16 else self.char_ends
        index = int(np.searchsorted(ends, char_index, side="right"))
        return index if index < len(self.ids) else None

    def split_at(self, char_index: int, *, utf16: bool = False) -> SplitChar | None:
        """The split character at `char_index`, if that character is split over tokens."""
        for split in self.splits:  # few: only characters a BPE never merged whole
            if (split.utf16_start if utf16 else split.start) == char_index:
                return split
        return None


class _ByteLengths:
    """Byte length of each token id, filled in as ids are met (per tokenizer, thread-safe)."""

    def __init__(self, vocab_size: int) -> None:
        self.lengths = np.full(vocab_size, -1, dtype=np.int64)
        self.lock = threading.Lock()

    def of(self, tokenizer: Tokenizer, ids: np.ndarray) -> np.ndarray:
        with self.lock:
            unique = np.unique(ids)
            missing = unique[self.lengths[unique] < 0]
            for token_id in missing.tolist():
                self.lengths[token_id] = len(tokenizer.token_bytes(token_id))
            return self.lengths[ids]


_LENGTHS: weakref.WeakKeyDictionary[Tokenizer, _ByteLengths] = weakref.WeakKeyDictionary()
_LENGTHS_LOCK = threading.Lock()


def _byte_lengths(tokenizer: Tokenizer, ids: np.ndarray) -> np.ndarray:
    with _LENGTHS_LOCK:
        table = _LENGTHS.get(tokenizer)
        if table is None or len(table.lengths) != tokenizer.vocab_size:
            table = _LENGTHS[tokenizer] = _ByteLengths(tokenizer.vocab_size)
    if len(ids) and (ids.min() < 0 or ids.max() >= tokenizer.vocab_size):
        tokenizer.check_id(int(ids.min() if ids.min() < 0 else ids.max()))  # says which id
    return table.of(tokenizer, ids)


def encode_for_view(tokenizer: Tokenizer, text: str, allowed_special: AllowedSpecial = "all"
                    ) -> list[int]:
    """The ids of `text`: specials as their ids ("all"), or as plain text (`"none"`: then a
    special in the text is split like any other characters, never refused)."""
    if allowed_special == "none":
        return tokenizer.encode_ordinary(text)
    return tokenizer.encode(text, allowed_special=allowed_special)


def encode_array(tokenizer: Tokenizer, text: str, allowed_special: AllowedSpecial = "all"
                 ) -> np.ndarray:
    """`encode_for_view` as an int64 array. A byte-level BPE's ids come straight from
    tiktoken's buffer, never as a Python list of a million ints, whose making would hold the
    interpreter lock (and so the window of an app tokenizing in a worker) for a while."""
    if isinstance(tokenizer, BPETokenizer):
        allowed = set() if allowed_special == "none" else \
            set(tokenizer.check_specials(text, allowed_special))
        ids = tokenizer.encoding.encode_to_numpy(fix_surrogates(text), allowed_special=allowed,
                                                 disallowed_special=())
        return ids.astype(np.int64)
    if isinstance(tokenizer, CharTokenizer) and (allowed_special == "none" or not any(
            special in text for special in tokenizer.special_tokens)):
        # One id per character: a lookup of all code points at once (the tests compare it
        # with CharTokenizer.encode); an unknown character goes on to encode's own message.
        codes, ids = _char_table(tokenizer)
        points = np.frombuffer(fix_surrogates(text).encode("utf-32-le"), dtype=np.uint32)
        where = np.minimum(np.searchsorted(codes, points), max(0, len(codes) - 1))
        if len(codes) and np.array_equal(codes[where], points):
            return ids[where]
    return np.asarray(encode_for_view(tokenizer, text, allowed_special), dtype=np.int64)


_CHAR_TABLES: weakref.WeakKeyDictionary[Tokenizer, tuple[np.ndarray, np.ndarray]] = \
    weakref.WeakKeyDictionary()


def _char_table(tokenizer: CharTokenizer) -> tuple[np.ndarray, np.ndarray]:
    """(sorted code points, their ids) of a character vocabulary, built once."""
    with _LENGTHS_LOCK:
        table = _CHAR_TABLES.get(tokenizer)
        if table is None:
            codes = np.array([ord(c) for c in tokenizer.chars], dtype=np.uint32)
            order = np.argsort(codes, kind="stable")
            table = _CHAR_TABLES[tokenizer] = (codes[order], order.astype(np.int64))
        return table


def explain_text(tokenizer: Tokenizer, text: str, *, allowed_special: AllowedSpecial = "all",
                 ids: Sequence[int] | None = None) -> TokenSpans:
    """The tokens of `text` with their bytes' and texts' offsets (see the module docstring).

    `allowed_special` as in `encode_for_view`; `ids` may be passed when already computed (they
    must be the encoding of `text`). A character tokenizer raises `TokenizerError` naming an
    unknown character.
    """
    text = fix_surrogates(text)
    token_ids = encode_array(tokenizer, text, allowed_special) if ids is None else \
        np.asarray(ids, dtype=np.int64)
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    offsets = np.zeros(len(token_ids) + 1, dtype=np.int64)
    np.cumsum(_byte_lengths(tokenizer, token_ids), out=offsets[1:])
    if offsets[-1] != len(data):
        raise TokenizerError(f"{tokenizer.name} gave tokens of {int(offsets[-1])} bytes for a "
                             f"text of {len(data)} bytes; these ids are not this text's.")
    is_start = (data & 0xC0) != 0x80  # the first byte of each character
    # A character ends at byte k when byte k + 1 starts the next one (or k is the last byte).
    is_end = np.ones(len(data), dtype=bool)
    is_end[:-1] = is_start[1:]
    ends_before = np.zeros(len(data) + 1, dtype=np.int64)  # characters ended before byte b
    np.cumsum(is_end, out=ends_before[1:])
    char_starts, char_ends = ends_before[offsets[:-1]], ends_before[offsets[1:]]
    # UTF-16 counts two units for a character of four UTF-8 bytes (lead byte 0xF0..0xF4).
    wide = data[is_start] >= 0xF0
    utf16_of_char = np.zeros(len(wide) + 1, dtype=np.int64)
    np.cumsum(1 + wide.astype(np.int64), out=utf16_of_char[1:])
    specials = np.fromiter(tokenizer.special_tokens.values(), dtype=np.int64)
    return TokenSpans(
        text=text, ids=token_ids, byte_offsets=offsets, char_starts=char_starts,
        char_ends=char_ends, utf16_starts=utf16_of_char[char_starts],
        utf16_ends=utf16_of_char[char_ends], special=np.isin(token_ids, specials),
        splits=_split_chars(text, offsets, is_start, ends_before, utf16_of_char),
        n_bytes=len(data))


def _split_chars(text: str, offsets: np.ndarray, is_start: np.ndarray,
                 ends_before: np.ndarray, utf16_of_char: np.ndarray) -> tuple[SplitChar, ...]:
    """The characters a token boundary cuts through, with the tokens that hold their bytes."""
    inner = offsets[1:-1]
    cut = inner[~is_start[inner]]  # boundaries that fall inside a character
    if not len(cut):
        return ()
    char_index = np.unique(ends_before[cut])  # the character containing byte b: chars ended
    splits = []
    starts = np.flatnonzero(is_start)  # first byte of every character
    for c in char_index.tolist():
        first_byte = int(starts[c])
        last_byte = int(starts[c + 1]) - 1 if c + 1 < len(starts) else int(offsets[-1]) - 1
        first = int(np.searchsorted(offsets, first_byte, side="right")) - 1
        last = int(np.searchsorted(offsets, last_byte, side="right")) - 1
        splits.append(SplitChar(text[c], c, int(utf16_of_char[c]), tuple(range(first, last + 1))))
    return tuple(splits)


def shown_part(text: str, max_chars: int) -> str:
    """The start of `text` a view shows when it is longer than `max_chars`: cut after the last
    line break in its second half, so the last word shown is tokenized as in the whole text.

    >>> shown_part("one\\ntwo\\nthree", 10), shown_part("short", 10)
    ('one\\ntwo\\n', 'short')
    """
    if len(text) <= max_chars:
        return text
    cut = text.rfind("\n", max_chars // 2, max_chars)
    return text[:cut + 1] if cut >= 0 else text[:max_chars]


def token_info(tokenizer: Tokenizer, spans: TokenSpans, index: int) -> TokenInfo:
    """Everything about token `index` of `spans` (a hover's content)."""
    if not 0 <= index < len(spans):
        raise TokenizerError(f"There is no token {index}; the text has {len(spans)} tokens.")
    token_id = int(spans.ids[index])
    special = bool(spans.special[index])
    rank = merge = None
    if tokenizer.kind in ("bpe", "tiktoken") and not special:
        rank = token_id  # a byte-level BPE's id is its rank: lower ranks merge first
        merge = token_id - 256 if token_id >= 256 else None
    return TokenInfo(
        index=index, id=token_id, data=tokenizer.token_bytes(token_id), text=spans.piece(index),
        start=int(spans.char_starts[index]), end=int(spans.char_ends[index]),
        byte_start=int(spans.byte_offsets[index]), byte_end=int(spans.byte_offsets[index + 1]),
        special=special, rank=rank, merge=merge)


def token_stats(tokenizer: Tokenizer, text: str, *, allowed_special: AllowedSpecial = "all"
                ) -> TokenStats:
    """Tokens, characters and bytes of `text` (without the per-token arrays).

    >>> from gptstudio.core.tokenizers import CharTokenizer
    >>> s = token_stats(CharTokenizer.from_text("ab"), "abba")
    >>> s.n_tokens, s.chars_per_token, s.bytes_per_token
    (4, 1.0, 1.0)
    """
    text = fix_surrogates(text)
    n_tokens = len(encode_array(tokenizer, text, allowed_special))
    return TokenStats(n_tokens, len(text), len(text.encode("utf-8")))


def color_slots(ids: np.ndarray, n_colors: int) -> tuple[np.ndarray, np.ndarray]:
    """(slot, shade) per token: the slot (0..n_colors-1) is a hash of the id alone, so a token
    has the same colour in every text; neighbours of the same slot alternate their shade (0/1),
    so two adjacent tokens never look like one.

    >>> slots, shades = color_slots(np.array([7, 7, 7, 9]), 8)
    >>> bool(slots[0] == slots[1] == slots[2]), shades[:3].tolist()
    (True, [0, 1, 0])
    """
    if n_colors < 1:
        raise ValueError("n_colors must be at least 1.")
    ids = np.asarray(ids, dtype=np.uint64)
    # Knuth's multiplicative hash spreads neighbouring ids (e.g. 256, 257) over the slots.
    slots = ((ids * np.uint64(2654435761)) >> np.uint64(7)) % np.uint64(n_colors)
    slots = slots.astype(np.int64)
    if not len(slots):
        return slots, slots.copy()
    positions = np.arange(len(slots))
    new_run = np.ones(len(slots), dtype=bool)
    new_run[1:] = slots[1:] != slots[:-1]
    run_start = np.maximum.accumulate(np.where(new_run, positions, 0))
    return slots, (positions - run_start) % 2


def explanation_dict(tokenizer: Tokenizer, spans: TokenSpans) -> dict:
    """`spans` as JSON-able data: the ids, each token's text ("pieces": they join to the text),
    and per token its bytes (hex), offsets, special flag, rank and merge; the split characters.

    >>> from gptstudio.core.tokenizers import CharTokenizer
    >>> tok = CharTokenizer.from_text("hi")
    >>> d = explanation_dict(tok, explain_text(tok, "hi"))
    >>> d["pieces"], d["tokens"][1]
    (['h', 'i'], {'id': 1, 'text': 'i', 'start': 1, 'end': 2, 'bytes': '69', \
'byte_start': 1, 'byte_end': 2, 'readable': 'i', 'special': False, 'rank': None, 'merge': None})
    """
    tokens = []
    for index in range(len(spans)):
        info = token_info(tokenizer, spans, index)
        tokens.append({"id": info.id, "text": info.text, "start": info.start, "end": info.end,
                       "bytes": info.hex, "byte_start": info.byte_start,
                       "byte_end": info.byte_end, "readable": info.readable,
                       "special": info.special, "rank": info.rank, "merge": info.merge})
    stats = spans.stats
    return {
        "tokenizer": tokenizer.name,
        "ids": spans.ids.tolist(),
        "pieces": spans.pieces(),
        "tokens": tokens,
        "splits": [{"char": s.char, "start": s.start, "tokens": list(s.tokens)}
                   for s in spans.splits],
        "stats": {"tokens": stats.n_tokens, "chars": stats.n_chars, "bytes": stats.n_bytes},
    }
