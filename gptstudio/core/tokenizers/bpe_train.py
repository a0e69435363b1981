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

Corpora larger than memory (`iter_bpe_training_chunks`, `train_bpe_chunks`): step 1 runs over a
stream of chunks (a corpus's `iter_chunks`, which only cuts where the split regex would cut
anyway), so the text is never held whole; only the distinct words and their counts are kept,
and the merges are exactly those of training on the whole text. With `sample_chars`, only every
k-th chunk is counted, about `sample_chars` characters spread over the corpus; the
`WordCountEvent`s say so (`sampled`). Memory then grows with the number of distinct words, not
with the size of the corpus.

Leaves out encoding (`bpe.py`). Reports progress as `MergeEvent`s (and `WordCountEvent`s while
counting a stream), through a generator or a callback, and stops between two merges (or two
chunks) when a `cancel` event is set.
"""

from __future__ import annotations

import heapq
import threading
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass

from gptstudio.core.corpora.corpus import iter_safe_chunks
from gptstudio.core.errors import Cancelled, TokenizerError
from gptstudio.core.tokenizers.base import ENDOFTEXT, special_split_regex
from gptstudio.core.tokenizers.bpe import BPETokenizer
from gptstudio.core.tokenizers.patterns import (
    TRAINABLE_PATTERNS,
    compile_pattern,
    pattern_regex,
)

Pair = tuple[int, int]
COUNT_SLICE_CHARS = 1 << 20  # count_words cuts a text held in memory into slices this long


@dataclass(frozen=True, slots=True)
class MergeEvent:
    """One learned merge, as the tokenizer tab animates it."""

    index: int  # 0-based merge number; the new token's id is 256 + index
    pair: Pair  # the two ids joined
    token_bytes: bytes  # the new token
    count: int  # how often the pair occurred in the training text when it was merged
    compression: float  # training-text bytes per token after this merge (specials not counted)


@dataclass(frozen=True, slots=True)
class WordCountEvent:
    """Step 1 on a stream of chunks: how much of the text has been cut into words."""

    done_chars: int  # characters read so far (counted or, when sampling, skipped)
    total_chars: int  # of the whole text (0 when unknown)
    counted_chars: int  # characters whose words were counted
    n_words: int  # words (pieces) counted
    n_distinct: int  # distinct words kept: what the memory grows with
    sampled: bool  # True: only a sample (every k-th chunk) is counted, not the whole text


def count_words(text: str, pattern: str = "gpt2",
                special_tokens: Sequence[str] = (ENDOFTEXT,)) -> Counter[str]:
    """Step 1: the distinct pieces of the text and how often each occurs.

    >>> count_words("the cat<|endoftext|>the cat")
    Counter({'the': 2, ' cat': 2})
    """
    split = compile_pattern(pattern_regex(pattern))
    finder = special_split_regex(list(special_tokens))
    # In slices of about 1 MB, cut only where the split regex cuts anyway (`iter_safe_chunks`):
    # the list of pieces of a whole 200 MB text would take gigabytes.
    slices = ((text,) if any("\n" in s for s in special_tokens)
              else iter_safe_chunks((text,), COUNT_SLICE_CHARS))
    words: Counter[str] = Counter()
    for piece in slices:
        for segment in finder.split(piece) if finder is not None else [piece]:
            words.update(split.findall(segment))  # special tokens cut the text: no word spans one
    return words


def iter_word_counts(
    chunks: Iterable[str],
    pattern: str = "gpt2",
    special_tokens: Sequence[str] = (ENDOFTEXT,),
    *,
    total_chars: int = 0,
    sample_chars: int | None = None,
    cancel: threading.Event | None = None,
) -> Generator[WordCountEvent, None, Counter[str]]:
    """Step 1 over chunks that split the text where the regex does (`Corpus.iter_chunks`):
    yields a `WordCountEvent` per chunk and *returns* the counts, equal to `count_words` of the
    joined text — or, with `sample_chars` below `total_chars`, of every k-th chunk only."""
    split = compile_pattern(pattern_regex(pattern))
    finder = special_split_regex(list(special_tokens))
    stride = 1
    if sample_chars is not None and total_chars > sample_chars > 0:
        stride = -(-total_chars // sample_chars)  # ceil: about sample_chars get counted
    words: Counter[str] = Counter()
    done = counted = n_words = 0
    for index, chunk in enumerate(chunks):
        if cancel is not None and cancel.is_set():
            raise Cancelled("BPE training was cancelled while counting the words.")
        done += len(chunk)
        if index % stride == 0:
            for segment in finder.split(chunk) if finder is not None else [chunk]:
                pieces = split.findall(segment)
                n_words += len(pieces)
                words.update(pieces)
            counted += len(chunk)
        yield WordCountEvent(done, total_chars, counted, n_words, len(words), stride > 1)
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
    special_tokens = _check_settings(vocab_size, pattern, special_tokens)
    word_counts = count_words(text, pattern, special_tokens)
    return (yield from iter_merges(word_counts, vocab_size, pattern, special_tokens, cancel))


def iter_bpe_training_chunks(
    chunks: Iterable[str],
    vocab_size: int,
    pattern: str = "gpt2",
    special_tokens: Sequence[str] = (ENDOFTEXT,),
    cancel: threading.Event | None = None,
    *,
    total_chars: int = 0,
    sample_chars: int | None = None,
) -> Generator[WordCountEvent | MergeEvent, None, BPETokenizer]:
    """`iter_bpe_training` on a stream of safe chunks (see the module docstring): first a
    `WordCountEvent` per chunk, then a `MergeEvent` per merge; returns the BPETokenizer."""
    special_tokens = _check_settings(vocab_size, pattern, special_tokens)
    word_counts = yield from iter_word_counts(chunks, pattern, special_tokens,
                                              total_chars=total_chars,
                                              sample_chars=sample_chars, cancel=cancel)
    return (yield from iter_merges(word_counts, vocab_size, pattern, special_tokens, cancel))


def _check_settings(vocab_size: int, pattern: str, special_tokens: Sequence[str]
                    ) -> tuple[str, ...]:
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
    return special_tokens


def iter_merges(
    word_counts: Counter[str],
    vocab_size: int,
    pattern: str,
    special_tokens: tuple[str, ...],
    cancel: threading.Event | None = None,
) -> Generator[MergeEvent, None, BPETokenizer]:
    """Steps 2 and 3 on counted words: a MergeEvent per merge; returns the BPETokenizer."""
    if not word_counts:
        raise TokenizerError("Cannot train BPE on an empty text.")
    smallest = 256 + len(special_tokens)
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
    return _run(iter_bpe_training(text, vocab_size, pattern, special_tokens, cancel), progress)


def train_bpe_chunks(
    chunks: Iterable[str],
    vocab_size: int,
    pattern: str = "gpt2",
    special_tokens: Sequence[str] = (ENDOFTEXT,),
    progress: Callable[[WordCountEvent | MergeEvent], None] | None = None,
    cancel: threading.Event | None = None,
    *,
    total_chars: int = 0,
    sample_chars: int | None = None,
) -> BPETokenizer:
    """`iter_bpe_training_chunks` with a callback instead of a generator."""
    return _run(iter_bpe_training_chunks(chunks, vocab_size, pattern, special_tokens, cancel,
                                         total_chars=total_chars, sample_chars=sample_chars),
                progress)


def _run(events: Generator, progress: Callable | None) -> BPETokenizer:
    while True:
        try:
            event = next(events)
        except StopIteration as done:
            return done.value
        if progress is not None:
            progress(event)
