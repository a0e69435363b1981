"""Numbers that make runs with different tokenizers comparable: compression, perplexity, bpb.

A loss is measured per token, and tokens differ between tokenizers: a character model's token is
one byte of English, a GPT-2 BPE token about four. So a lower loss per token does not mean a
better model. Bits per byte divides the total information by the bytes of text instead:

    bytes_per_token = n_bytes / n_tokens                  (UTF-8 bytes; higher = more compression)
    perplexity      = exp(loss)                           (loss: mean cross-entropy, nats/token)
    bits_per_byte   = loss * n_tokens / (n_bytes * ln 2)  (total nats -> bits, per byte of text)

Worked example: a character model at loss 1.0 on ASCII text (one byte a token), and a BPE model
at the far higher loss 3.0 with four bytes a token — which is the better model?

    >>> round(bits_per_byte(1.0, n_tokens=1000, n_bytes=1000), 2)
    1.44
    >>> round(bits_per_byte(3.0, n_tokens=1000, n_bytes=4000), 2)   # the BPE model
    1.08

Left out: computing the loss itself (the trainer does).
"""

from __future__ import annotations

import math
from collections.abc import Sized

from gptstudio.core.errors import DatasetError


def bytes_per_token(text: str, tokens: Sized | int) -> float:
    """UTF-8 bytes of `text` per token (`tokens`: the ids, or how many there are)."""
    n_tokens = tokens if isinstance(tokens, int) else len(tokens)
    if n_tokens <= 0:
        raise DatasetError("Bytes per token needs at least one token.")
    return len(text.encode("utf-8")) / n_tokens


def perplexity(loss: float) -> float:
    """exp(loss): the effective number of equally likely choices per token (inf if it overflows)."""
    if math.isnan(loss):
        return math.nan
    try:
        return math.exp(loss)
    except OverflowError:
        return math.inf


def bits_per_byte(loss: float, n_tokens: int, n_bytes: int) -> float:
    """Mean loss (nats per token) over `n_tokens` tokens of `n_bytes` bytes, as bits per byte."""
    if n_tokens <= 0 or n_bytes <= 0:
        raise DatasetError(
            f"Bits per byte needs positive counts, got {n_tokens} tokens and {n_bytes} bytes."
        )
    return loss * n_tokens / (n_bytes * math.log(2))
