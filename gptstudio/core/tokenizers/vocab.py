"""A tokenizer's vocabulary as a table to browse: every id with its readable piece and length.

`vocabulary(tok)` lists the ids in rank order with their bytes shown by `pieces.visible` (loose
bytes of a split character in hex, spaces as "␣"), so a search for "␣the" finds the tokens that
start a word "the". `search_vocabulary` filters and sorts that table:

    >>> from gptstudio.core.tokenizers import BPETokenizer
    >>> tok = BPETokenizer.from_merges([(32, 116), (256, 104), (257, 101)])   # " t", " th", " the"
    >>> vocab = vocabulary(tok)
    >>> [vocab.pieces[i] for i in search_vocabulary(vocab, "␣t")]
    ['␣t', '␣th', '␣the']
    >>> [vocab.pieces[i] for i in search_vocabulary(vocab, "␣t", order="length")]
    ['␣the', '␣th', '␣t']
    >>> search_vocabulary(vocab, "258").tolist()     # an id finds that token too
    [258]

Left out: where a token came from (`lineage.py`: its merge parents) and drawing the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from gptstudio.core.errors import TokenizerError
from gptstudio.core.tokenizers.base import Tokenizer
from gptstudio.core.tokenizers.pieces import readable, visible

VocabOrder = Literal["rank", "length"]


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """Index i of each field is token id i (ids missing from a rank table are empty pieces)."""

    name: str
    pieces: tuple[str, ...]  # readable and visible: "␣the", "⟨c3⟩", "<|endoftext|>"
    lengths: np.ndarray  # bytes of each token (int64)
    special: np.ndarray  # bool

    def __len__(self) -> int:
        return len(self.pieces)


def vocabulary(tokenizer: Tokenizer) -> Vocabulary:
    """Every id of `tokenizer` with its piece and its length in bytes (a second for 200k ids)."""
    pieces: list[str] = []
    lengths = np.zeros(tokenizer.vocab_size, dtype=np.int64)
    for token_id in range(tokenizer.vocab_size):
        try:
            data = tokenizer.token_bytes(token_id)
        except TokenizerError:  # a gap in a rank table (cl100k has a few unused ids)
            data = b""
        pieces.append(visible(readable(data)))
        lengths[token_id] = len(data)
    special = np.zeros(tokenizer.vocab_size, dtype=bool)
    special[list(tokenizer.special_tokens.values())] = True
    return Vocabulary(tokenizer.name, tuple(pieces), lengths, special)


def search_vocabulary(vocab: Vocabulary, query: str = "", order: VocabOrder = "rank"
                      ) -> np.ndarray:
    """The ids whose piece contains `query` (all when empty; an id written as a number is
    included too), by rank (= id) or by length (longest first, then by rank)."""
    query = query.strip("\n")
    if query:
        ids = [i for i, piece in enumerate(vocab.pieces) if query in piece]
        if query.isdigit() and int(query) < len(vocab) and int(query) not in ids:
            ids.append(int(query))
        found = np.array(sorted(ids), dtype=np.int64)
    else:
        found = np.arange(len(vocab), dtype=np.int64)
    if order == "length":
        found = found[np.argsort(-vocab.lengths[found], kind="stable")]
    elif order != "rank":
        raise TokenizerError(f"Sort the vocabulary by 'rank' or 'length', not {order!r}.")
    return found
