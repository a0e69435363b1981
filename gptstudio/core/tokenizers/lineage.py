"""Why this token? The merges that built a BPE token from its bytes, and a BPE cut short.

Every token of a byte-level BPE above the 256 single bytes is the join of two earlier tokens,
its *parents*; following the parents down to single bytes and listing the joins in rank order
shows how training built the token, from bytes up:

    >>> from gptstudio.core.tokenizers import BPETokenizer
    >>> tok = BPETokenizer.from_merges([(104, 101), (256, 108), (108, 111), (257, 258)])
    >>> tok.decode([259])
    'hello'
    >>> lineage = token_lineage(tok, 259)
    >>> [tok.decode([i]) for i in lineage.byte_ids]
    ['h', 'e', 'l', 'l', 'o']
    >>> [(s.rank, tok.decode([s.left]), tok.decode([s.right])) for s in lineage.steps]
    [(256, 'h', 'e'), (257, 'he', 'l'), (258, 'l', 'o'), (259, 'hel', 'lo')]

A trained BPE (or one read from our JSON) knows its merge list. A rank table (a `.tiktoken` file)
does not, so a token's parents are recovered on demand, for that token alone, the way
`bpe.recover_merges` does it for all: the two parts the BPE makes of the token's bytes when only
lower ranks exist. `with_first_merges(tok, n)` is the tokenizer after the first n merges of its
training, for scrubbing through it.

Left out: the offsets and texts of tokens in a text (`explain.py`), training (`bpe_train.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gptstudio.core.errors import TokenizerError
from gptstudio.core.tokenizers.base import Tokenizer
from gptstudio.core.tokenizers.bpe import BPETokenizer, bpe_encode_piece


@dataclass(frozen=True)
class MergeStep:
    """One join: the token of id `rank` is the bytes of `left` followed by those of `right`."""

    rank: int
    left: int
    right: int

    @property
    def merge(self) -> int:
        """Which merge of training this was (0 = the first)."""
        return self.rank - 256


@dataclass(frozen=True)
class TokenLineage:
    """How one token came to be: kind "merge" (with steps), "byte", "special" or "char"."""

    id: int
    kind: str
    byte_ids: tuple[int, ...]  # the single-byte tokens it starts from (empty for specials, chars)
    steps: tuple[MergeStep, ...]  # the merges that built it, lowest rank first; the last is it


def _is_bpe(tokenizer: Tokenizer) -> bool:
    return isinstance(tokenizer, BPETokenizer)


def token_parents(tokenizer: Tokenizer, token_id: int) -> tuple[int, int] | None:
    """The two tokens joined to make `token_id`, or None for a single byte, a special token or
    a character tokenizer's id."""
    tokenizer.check_id(token_id)
    if not _is_bpe(tokenizer) or token_id in tokenizer.special_tokens.values():
        return None
    assert isinstance(tokenizer, BPETokenizer)
    if token_id < 256:
        return None
    # A trained (or saved) BPE keeps its merge list; read it without copying all of it. The
    # private field is this package's own: `merges` would recover every merge of a rank file.
    merges = tokenizer._merges
    if merges is not None:
        left, right = merges[token_id - 256]
        return int(left), int(right)
    ranks = tokenizer.ranks
    parts = bpe_encode_piece(tokenizer.token_bytes(token_id), ranks, max_rank=token_id)
    if len(parts) != 2:
        raise TokenizerError(f"Token {token_id} of {tokenizer.name} is not the join of two "
                             f"earlier tokens; its rank table is not a byte-level BPE's.")
    return ranks[parts[0]], ranks[parts[1]]


def token_lineage(tokenizer: Tokenizer, token_id: int) -> TokenLineage:
    """The merges that built `token_id`, from its single bytes up (see the module docstring)."""
    tokenizer.check_id(token_id)
    if token_id in tokenizer.special_tokens.values():
        return TokenLineage(token_id, "special", (), ())
    if not _is_bpe(tokenizer):
        return TokenLineage(token_id, "char", (), ())
    assert isinstance(tokenizer, BPETokenizer)
    steps: dict[int, MergeStep] = {}
    byte_ids: list[int] = []
    stack = [token_id]  # depth first, left before right, so byte_ids come in text order
    while stack:
        current = stack.pop()
        parents = token_parents(tokenizer, current)
        if parents is None:
            byte_ids.append(current)
            continue
        steps[current] = MergeStep(current, *parents)
        stack.extend(reversed(parents))
    kind = "merge" if steps else "byte"
    return TokenLineage(token_id, kind, tuple(byte_ids),
                        tuple(steps[rank] for rank in sorted(steps)))


def with_first_merges(tokenizer: BPETokenizer, n_merges: int) -> BPETokenizer:
    """The BPE made of the 256 bytes and the first `n_merges` merges of `tokenizer` (its special
    tokens follow them), as training had it after that many merges.

    >>> from gptstudio.core.tokenizers import BPETokenizer
    >>> tok = BPETokenizer.from_merges([(104, 105), (256, 105)])      # "hi", then "hii"
    >>> [len(with_first_merges(tok, n).encode("hii")) for n in (0, 1, 2)]
    [3, 2, 1]
    """
    if not _is_bpe(tokenizer):
        raise TokenizerError(f"{tokenizer.name} has no merges to scrub through.")
    n_all = tokenizer.n_ordinary - 256
    if not 0 <= n_merges <= n_all:
        raise TokenizerError(f"{tokenizer.name} has {n_all} merges; choose 0..{n_all}.")
    merges = tokenizer.merges[:n_merges]
    specials = sorted(tokenizer.special_tokens, key=tokenizer.special_tokens.__getitem__)
    return BPETokenizer.from_merges(merges, pattern=tokenizer.pattern, special_tokens=specials,
                                    byte_ids=tokenizer.byte_ids,
                                    name=f"{tokenizer.name}, first {n_merges:,} merges")
