"""Datasets: token ids from a corpus (cached on disk), windows, splits, batches and metrics.

    token_cache.py  streamed tokenization into a memory-mapped cache (uint16 or uint32)
    dataset.py      sliding windows, the positional train/val split, epoch and random batches
    metrics.py      bytes per token, perplexity, bits per byte

Reading text is `gptstudio.core.corpora`'s job; the tokenizers live in `gptstudio.core.tokenizers`.
"""

from gptstudio.core.data.dataset import (
    RandomBatcher,
    SlidingWindowDataset,
    make_dataloader,
    split_tokens,
)
from gptstudio.core.data.metrics import bits_per_byte, bytes_per_token, perplexity
from gptstudio.core.data.token_cache import TokenizeProgress, token_dtype, tokenize_corpus

__all__ = [
    "RandomBatcher",
    "SlidingWindowDataset",
    "TokenizeProgress",
    "bits_per_byte",
    "bytes_per_token",
    "make_dataloader",
    "perplexity",
    "split_tokens",
    "token_dtype",
    "tokenize_corpus",
]
