"""Training a byte-level BPE from scratch: learn which adjacent pairs of tokens to merge.

The algorithm, in the words of the classic papers:

1. Cut the text into pieces with the split regex (never across special tokens such as
   "<|endoftext|>", which are cut out first and never merged). Identical pieces are counted
   once with their frequency: Tiny Shakespeare's 300,000 pieces are only 15,000 distinct words.
2. Every word starts as its UTF-8 bytes (ids 0..255). Count every adjacent pair of ids over all
   words, weighted by word frequency.
3. Repeat: take the most frequent pair, give it the next id (256, 257, ...), rewrite the words
   that contain it, and update the pair counts.

What makes it fast is step 3: we keep an index pair -> the words containing it, so a merge only
touches those words, and their pair counts are corrected by subtracting the word's old pairs and
adding its new ones (no recount over the corpus). A heap with lazy deletion finds the best pair.

Worked example, on the text Wikipedia uses to explain BPE ("aa" occurs 4 times; then "ab" and
"aa"+"a" both twice, and the tie goes to the smaller pair of ids, (97, 98)):

    >>> events = []
    >>> tokenizer = train_bpe("aaabdaaabac", 259, progress=events.append)  # 256 + 2 + 1 special
    >>> [(e.index, e.pair, e.token_bytes, e.count) for e in events]
    [(0, (97, 97), b'aa', 4), (1, (97, 98), b'ab', 2)]
    >>> tokenizer.encode("aaabdaaabac")  # aa=256, ab=257, d=100, a=97, c=99
    [256, 257, 100, 256, 257, 97, 99]

Tie-breaking is deterministic: the highest count wins, and among equal counts the smallest pair
of ids, compared as (left id, right id). A pair whose bytes already are a token (possible in rare
contexts) is skipped, so every token has distinct bytes, as tiktoken's rank tables require.

Leaves out encoding (`bpe.py`). Reports progress as `MergeEvent`s, through a generator or a
callback, and stops between two merges when a `cancel` event is set.
"""

from __future__ import annotations

import heapq
import threading
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

from gptstudio.core.errors import Cancelled, TokenizerError
from gptstudio.core.tokenizers.base import ENDOFTEXT, special_split_regex
from gptstudio.core.tokenizers.bpe import BPETokenizer
from gptstudio.core.tokenizers.patterns import (
    TRAINABLE_PATTERNS,
    compile_pattern,
    pattern_regex,
)

Pair = tuple[int, int]


@dataclass(frozen=True, slots=True)
class MergeEvent:
    """One learned merge, as the tokenizer tab animates it."""

    index: int  # 0-based merge number; the new token's id is 256 + index
    pair: Pair  # the two ids joined
    token_bytes: bytes  # the new token
    count: int  # how often the pair occurred in the training text when it was merged
    compression: float  # training-text bytes per token after this merge (specials not counted)


def count_words(text: str, pattern: str = "gpt2",
                special_tokens: Sequence[str] = (ENDOFTEXT,)) -> Counter[str]:
    """Step 1: the distinct pieces of the text and how often each occurs.

    >>> count_words("the cat<|endoftext|>the cat")
    Counter({'the': 2, ' cat': 2})
    """
    split = compile_pattern(pattern_regex(pattern))
    finder = special_split_regex(list(special_tokens))
    segments = finder.split(text) if finder is not None else [text]
    words: Counter[str] = Counter()
    for segment in segments:  # special tokens cut the text: no piece spans one
        words.update(split.findall(segment))
    return words


def merge_word(word: list[int], pair: Pair, new_id: int) -> list[int]:
    """Replace every occurrence of `pair` in `word`, left to right, by `new_id`.

    >>> merge_word([1, 2, 1, 2, 2], (1, 2), 9)
    [9, 9, 2]
    """
    left, right = pair
    merged: list[int] = []
    i, n = 0, len(word)
    while i < n:
        if i + 1 < n and word[i] == left and word[i + 1] == right:
            merged.append(new_id)
            i += 2
        else:
            merged.append(word[i])
            i += 1
    return merged


class PairStats:
    """Pair counts over the distinct words, the index pair -> words, and a heap of candidates."""

    def __init__(self, words: list[list[int]], freqs: list[int]):
        self.words, self.freqs = words, freqs
        self.counts: dict[Pair, int] = {}
        self.where: dict[Pair, set[int]] = {}
        for index, (word, freq) in enumerate(zip(words, freqs)):
            for pair in zip(word, word[1:]):
                self.counts[pair] = self.counts.get(pair, 0) + freq
                self.where.setdefault(pair, set()).add(index)
        # Max-heap by count (negated), ties to the smallest pair; stale entries are skipped.
        self.heap: list[tuple[int, Pair]] = [(-c, p) for p, c in self.counts.items()]
        heapq.heapify(self.heap)

    def pop_best(self, skip: set[Pair]) -> tuple[Pair, int] | None:
        """The most frequent pair and its count (ties: smallest pair), or None if none is left."""
        heap, counts = self.heap, self.counts
        while heap:
            negative_count, pair = heap[0]
            if counts.get(pair) == -negative_count and pair not in skip:
                return pair, -negative_count
            heapq.heappop(heap)  # stale: the count changed since this entry was pushed
        return None

    def merge(self, pair: Pair, new_id: int) -> int:
        """Merge `pair` everywhere; update counts for the words touched. Returns tokens saved."""
        words, freqs, where = self.words, self.freqs, self.where
        delta: dict[Pair, int] = {}  # count changes; pairs untouched by the merge cancel out
        saved = 0
        for index in where.pop(pair, ()):
            word = words[index]
            new_word = merge_word(word, pair, new_id)
            if len(new_word) == len(word):
                continue  # the index is lazy: this word lost the pair through another merge
            freq = freqs[index]
            saved += freq * (len(word) - len(new_word))
            # The word's old pairs leave the counts and its new pairs enter them.
            for old in zip(word, word[1:]):
                delta[old] = delta.get(old, 0) - freq
            for new in zip(new_word, new_word[1:]):
                delta[new] = delta.get(new, 0) + freq
                if new[0] == new_id or new[1] == new_id:  # only pairs with the new token are new
                    where.setdefault(new, set()).add(index)
            words[index] = new_word
        counts = self.counts
        for p, change in delta.items():
            if change == 0:
                continue
            count = counts.get(p, 0) + change
            if count > 0:
                counts[p] = count
                heapq.heappush(self.heap, (-count, p))
            else:
                del counts[p]
                where.pop(p, None)
        return saved


def iter_bpe_training(
    text: str,
    vocab_size: int,
    pattern: str = "gpt2",
    special_tokens: Sequence[str] = (ENDOFTEXT,),
    cancel: threading.Event | None = None,
) -> Generator[MergeEvent, None, BPETokenizer]:
    """Train, yielding a MergeEvent per merge; the generator *returns* the BPETokenizer.

    Use `tokenizer = yield from iter_bpe_training(...)`, or collect `[e.pair for e in events]`
    and call `BPETokenizer.from_merges`. `vocab_size` counts the 256 bytes, the merges and the
    special tokens; training stops earlier if the text has no pair left to merge.
    """
    if pattern not in TRAINABLE_PATTERNS:
        raise TokenizerError(f"Choose the split pattern 'gpt2' or 'gpt4', not {pattern!r}.")
    special_tokens = tuple(special_tokens)
    if len(set(special_tokens)) != len(special_tokens) or not all(special_tokens):
        raise TokenizerError("Special tokens must be distinct, non-empty strings.")
    smallest = 256 + len(special_tokens)
    if not isinstance(vocab_size, int) or vocab_size < smallest:
        raise TokenizerError(
            f"A byte-level BPE vocabulary needs at least {smallest} ids (256 bytes + "
            f"{len(special_tokens)} special tokens); got vocab_size={vocab_size!r}."
        )
    word_counts = count_words(text, pattern, special_tokens)
    if not word_counts:
        raise TokenizerError("Cannot train BPE on an empty text.")

    total_bytes = 0
    n_tokens = 0
    words: list[list[int]] = []
    freqs: list[int] = []
    for word, freq in word_counts.items():
        ids = list(word.encode("utf-8"))
        total_bytes += freq * len(ids)
        n_tokens += freq * len(ids)
        if len(ids) > 1:  # a one-byte word has no pair to merge
            words.append(ids)
            freqs.append(freq)

    stats = PairStats(words, freqs)
    vocab = [bytes([b]) for b in range(256)]
    known = set(vocab)
    skip: set[Pair] = set()
    merges: list[Pair] = []
    n_merges = vocab_size - smallest
    while len(merges) < n_merges:
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"BPE training was cancelled after {len(merges)} merges.")
        best = stats.pop_best(skip)
        if best is None:
            break  # every word is a single token: nothing left to learn
        pair, count = best
        token = vocab[pair[0]] + vocab[pair[1]]
        if token in known:
            skip.add(pair)  # same bytes as an existing token: tiktoken needs unique bytes
            continue
        new_id = len(vocab)
        n_tokens -= stats.merge(pair, new_id)
        vocab.append(token)
        known.add(token)
        merges.append(pair)
        yield MergeEvent(len(merges) - 1, pair, token, count, total_bytes / max(n_tokens, 1))

    return BPETokenizer.from_merges(merges, pattern=pattern, special_tokens=special_tokens)


def train_bpe(
    text: str,
    vocab_size: int,
    pattern: str = "gpt2",
    special_tokens: Sequence[str] = (ENDOFTEXT,),
    progress: Callable[[MergeEvent], None] | None = None,
    cancel: threading.Event | None = None,
) -> BPETokenizer:
    """`iter_bpe_training` with a callback instead of a generator (BPETokenizer.train)."""
    events = iter_bpe_training(text, vocab_size, pattern, special_tokens, cancel)
    while True:
        try:
            event = next(events)
        except StopIteration as done:
            return done.value
        if progress is not None:
            progress(event)
