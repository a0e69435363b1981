"""Whether BPE training on a text had nothing left to merge, without training again.

BPE training stops before its vocabulary size when no pair is left to merge: every word of the
text is one token, or its remaining pairs would make a token that exists already (training
skips those: token bytes are unique). Then any larger `bpe:N` on that text gives the very same
tokenizer, so a run made with `bpe:100000` that stopped at 2,774 tokens may be resumed with
either spec. `bpe_training_exhausted` decides it by streaming the text once, chunk by chunk:
each word (split as training splits it) is cut into the tokens training gave it (its merges
applied in order, the lowest-ranked pair first), and a pair of neighbours whose bytes are not
yet a token means training would have merged on: the answer is False at once, usually within
the first chunk. Memory is bounded by one chunk and the words already seen (capped).
Left out: training itself (`bpe_train.py`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from gptstudio.core.errors import Cancelled
from gptstudio.core.tokenizers.base import special_split_regex
from gptstudio.core.tokenizers.bpe import BPETokenizer
from gptstudio.core.tokenizers.patterns import compile_pattern, pattern_regex

SEEN_WORDS_CAP = 1 << 20  # distinct words remembered (each is judged once)


def bpe_training_exhausted(tokenizer: BPETokenizer, chunks: Iterable[str], *,
                           cancel: threading.Event | None = None) -> bool:
    """True when training `tokenizer` on the text of `chunks` (`Corpus.iter_chunks`) with a
    larger vocabulary would stop at this same tokenizer; False as soon as a word shows a pair
    that training would merge next. See the module docstring."""
    ranks = tokenizer.ranks  # token bytes -> id: every ordinary token
    merge_rank = {(tokenizer.token_bytes(a), tokenizer.token_bytes(b)): i
                  for i, (a, b) in enumerate(tokenizer.merges)}
    split = compile_pattern(pattern_regex(tokenizer.pattern))
    finder = special_split_regex(list(tokenizer.special_tokens))
    seen: set[str] = set()
    for chunk in chunks:
        if cancel is not None and cancel.is_set():
            raise Cancelled("Checking the BPE tokenizer against the corpus was cancelled.")
        for segment in finder.split(chunk) if finder is not None else [chunk]:
            for word in split.findall(segment):
                if word in seen:
                    continue
                if len(seen) < SEEN_WORDS_CAP:
                    seen.add(word)
                pieces = _trained_pieces(word.encode("utf-8"), merge_rank)
                if any(a + b not in ranks for a, b in zip(pieces, pieces[1:])):
                    return False
    return True


def _trained_pieces(word: bytes, merge_rank: dict[tuple[bytes, bytes], int]) -> list[bytes]:
    """The tokens training left `word` in: its merges applied in their order.

    >>> _trained_pieces(b"aaab", {(b"a", b"a"): 0, (b"a", b"b"): 1})
    [b'aa', b'ab']
    """
    pieces = [bytes([b]) for b in word]
    while len(pieces) > 1:
        ranked = [(merge_rank.get(pair), i) for i, pair in enumerate(zip(pieces, pieces[1:]))]
        found = [r for r, _ in ranked if r is not None]
        if not found:
            break
        best = min(found)
        merged: list[bytes] = []
        i = 0
        while i < len(pieces):  # every occurrence of the best pair, left to right
            if i + 1 < len(pieces) and merge_rank.get((pieces[i], pieces[i + 1])) == best:
                merged.append(pieces[i] + pieces[i + 1])
                i += 2
            else:
                merged.append(pieces[i])
                i += 1
        pieces = merged
    return pieces
