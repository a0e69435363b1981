"""Exponential moving average of a loss curve, vectorised so 100k points smooth in milliseconds.

The EMA y[t] = a*y[t-1] + (1-a)*x[t] is a recurrence; a Python loop over 100k points would take
tens of milliseconds on every redraw. Within a block of B points the recurrence unrolls into a
matrix product with the lower-triangular matrix of powers a^(k-i), so we loop over blocks, not
points. Starting from y[-1] = x[0] avoids the pull towards zero a plain EMA shows at the start.
Left out: plotting.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_BLOCK = 256


def ema(x: np.ndarray, smoothing: float) -> np.ndarray:
    """Smooth `x` with weight `smoothing` in [0, 1); NaNs are carried over from the last value.

    >>> ema(np.array([1.0, 1.0, 1.0]), 0.9).tolist()
    [1.0, 1.0, 1.0]
    >>> ema(np.array([0.0, 1.0]), 0.5).tolist()
    [0.0, 0.5]
    """
    x = np.asarray(x, dtype=np.float64)
    if smoothing <= 0.0 or len(x) == 0:
        return x.copy()
    a = float(min(smoothing, 0.999))
    x = _forward_fill(x)
    powers, decay = _block_matrices(a)
    out = np.empty_like(x)
    prev = x[0] if np.isfinite(x[0]) else 0.0
    for start in range(0, len(x), _BLOCK):
        block = x[start : start + _BLOCK]
        n = len(block)
        out[start : start + n] = decay[:n] * prev + (1.0 - a) * (powers[:n, :n] @ block)
        prev = out[start + n - 1]
    return out


@lru_cache(maxsize=8)
def _block_matrices(a: float) -> tuple[np.ndarray, np.ndarray]:
    """For weight `a`: powers[k, i] = a^(k-i) for i <= k, else 0 (row k sums the inputs that
    reach output k), and decay[k] = a^(k+1) (how much of the previous block's last value
    survives to output k). Cached: a redraw reuses them."""
    k = np.arange(_BLOCK)
    powers = np.tril(a ** (k[:, None] - k[None, :]).clip(min=0))
    return powers, a ** (k + 1)


def _forward_fill(x: np.ndarray) -> np.ndarray:
    """Replace each NaN/inf by the last finite value before it (leading ones by the first)."""
    finite = np.isfinite(x)
    if finite.all():
        return x
    if not finite.any():
        return np.zeros_like(x)
    idx = np.where(finite, np.arange(len(x)), 0)
    np.maximum.accumulate(idx, out=idx)
    filled = x[idx]
    first = int(np.argmax(finite))
    filled[:first] = x[first]
    return filled
