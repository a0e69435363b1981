"""The learning-rate schedule: linear warmup, then cosine decay to a floor.

Why this shape: at the start the weights are random and Adam's moment estimates are poor, so big
steps would throw the model somewhere bad; a short linear ramp avoids that. Later, smaller steps
let the loss settle into a minimum instead of bouncing around it; a cosine gives a smooth decay
that spends a while near the peak and a while near the floor.

The schedule is a pure function of the step number, so a resumed run gets exactly the same
learning rates as an uninterrupted one, and nothing about it has to be checkpointed.
Left out: changing the peak mid-run (the trainer scales this function; see control.py).

Worked example (peak 1e-3, floor 1e-4, 10 warmup steps, decay over 110 steps):

    >>> lr = lambda s: learning_rate_at(s, peak_lr=1e-3, min_lr=1e-4, warmup_steps=10,
    ...                                 decay_steps=110)
    >>> round(lr(0), 6), round(lr(9), 6)          # ramps up: 1/10, ..., 10/10 of the peak
    (0.0001, 0.001)
    >>> round(lr(60), 6)                          # half-way through the cosine: the midpoint
    0.00055
    >>> lr(110), lr(500)                          # at and after the end: the floor
    (0.0001, 0.0001)
"""

from __future__ import annotations

import math


def learning_rate_at(
    step: int, *, peak_lr: float, min_lr: float, warmup_steps: int, decay_steps: int
) -> float:
    """The learning rate for the optimizer step with index `step` (0-based)."""
    if step < warmup_steps:
        # Step 0 already gets a small non-zero rate (a zero step would be wasted).
        return peak_lr * (step + 1) / warmup_steps
    if step >= decay_steps:
        return min_lr
    # Progress through the decay phase, 0 at the end of warmup to 1 at decay_steps.
    progress = (step - warmup_steps) / max(1, decay_steps - warmup_steps)
    cosine = 0.5 * (1.0 + math.cos(math.pi * progress))  # 1 -> 0
    return min_lr + cosine * (peak_lr - min_lr)
