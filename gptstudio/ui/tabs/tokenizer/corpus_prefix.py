"""The part of the corpus the Tokenizer tab reads itself: its first million characters.

A corpus may be gigabytes, and the tab's own uses of its text (a passage to look at, the
characters of the "Characters" column, the text the BPE lab trains on) run on the GUI thread or
hand the text to a worker whole. So they read a bounded prefix (`Corpus.preview` reads no more of
the files than that), and the tab says so where the result depends on it (BPE training).
Tokenizing the whole corpus for the Windows page streams it in the lab's worker instead.
"""

from __future__ import annotations

from gptstudio.core.corpora import Corpus

CORPUS_PREFIX_CHARS = 1_000_000


def corpus_prefix(corpus: Corpus, limit: int = CORPUS_PREFIX_CHARS) -> tuple[str, bool]:
    """(the first `limit` characters of `corpus`, whether the corpus is longer than that)."""
    text = corpus.preview(limit + 1)
    return text[:limit], len(text) > limit
