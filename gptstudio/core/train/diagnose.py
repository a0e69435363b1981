""""Is this normal?": read a run's loss curves and say, in words, what they show.

Pure functions over the metrics history (no Qt, no torch), so the Train tab, a test or a script
can ask the same question:

    >>> notes = diagnose([0, 100, 200, 300], [4.2, 2.9, 2.4, 2.1], [4.2, 3.0, 2.5, 2.2],
    ...                  vocab_size=65)
    >>> notes[0].kind
    'falling'

What it looks for, in this order (the first that fits is the main finding):

    too_early     fewer than MIN_EVALS evaluations: too soon to tell
    not_learning  the validation loss stays near ln(vocab size), the loss of a uniform guess
    overfitting   validation rose clearly above its lowest point while training kept falling
                  (the finding names the step of that lowest point: where overfitting began)
    rising        both losses rose at the end: unstable training
    falling       the validation loss is still going down: more steps will help
    flat          neither: the curve has levelled off

and, besides any of these, `nan_skips` when steps were skipped for a non-finite loss. The
thresholds are rules of thumb (an evaluation averages a few batches, so it has noise of a few
hundredths); they are named constants below. Left out: drawing, and where the numbers come from.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_EVALS = 3  # evaluations needed before saying anything about a trend
RECENT = 3  # the last evaluations a trend is read from (more for long runs: a quarter of them)
NOISE_ABS, NOISE_REL = 0.02, 0.01  # a change below max(abs, rel * loss) is noise
UNIFORM_SHARE = 0.9  # a loss above this share of ln(vocab) counts as "near the uniform guess"
UNIFORM_DROP = 0.05  # ... if it also fell by less than this share since the first evaluation


@dataclass(frozen=True)
class Finding:
    """One thing the curves show: `kind` (see the module docstring), a sentence or two, and the
    step it is about (overfitting: where it began; not every finding has one)."""

    kind: str
    message: str
    step: int | None = None


def _noise(loss: float) -> float:
    return max(NOISE_ABS, NOISE_REL * abs(loss))


def diagnose(eval_steps: Sequence[float], train_loss: Sequence[float],
             val_loss: Sequence[float], *, vocab_size: int | None = None,
             n_skipped: int = 0) -> list[Finding]:
    """What the evaluations (step, train loss, val loss; NaN where not measured) show; the main
    finding first, then a note on skipped steps if there were any."""
    steps = np.asarray(eval_steps, dtype=float)
    train = np.asarray(train_loss, dtype=float)
    val = np.asarray(val_loss, dtype=float)
    keep = np.isfinite(steps) & np.isfinite(train) & np.isfinite(val)
    steps, train, val = steps[keep], train[keep], val[keep]
    findings = [_main_finding(steps, train, val, vocab_size)]
    if n_skipped > 0:
        findings.append(_nan_note(n_skipped))
    return findings


def _main_finding(steps: np.ndarray, train: np.ndarray, val: np.ndarray,
                  vocab_size: int | None) -> Finding:
    n = len(steps)
    if n < MIN_EVALS:
        return Finding("too_early", f"Too soon to tell: {n} evaluation{'s' * (n != 1)} so far, "
                       f"at least {MIN_EVALS} are needed to see a trend.")
    stuck = not_learning(val, vocab_size)
    if stuck is not None:
        return stuck
    over = overfitting(steps, train, val)
    if over is not None:
        return over
    k = max(RECENT, n // 4)
    first, last = float(val[-k]), float(val[-1])
    since = f"over the last {k} evaluations (since step {int(steps[-k]):,})"
    if last < first - _noise(first):
        return Finding("falling", f"Still learning: the validation loss fell from {first:.3f} to "
                       f"{last:.3f} {since}. More steps will help.")
    train_first, train_last = float(train[-k]), float(train[-1])
    if last > first + _noise(first) and train_last > train_first + _noise(train_first):
        return Finding("rising", f"Both losses rose {since} (validation {first:.3f} → "
                       f"{last:.3f}): training is unstable. Try a lower learning rate.")
    return Finding("flat", f"The loss has levelled off: validation {first:.3f} → {last:.3f} "
                   f"{since}. More steps will not help much; a larger model, more data or "
                   "another learning rate may.")


def not_learning(val: np.ndarray, vocab_size: int | None) -> Finding | None:
    """The validation loss stays near ln(vocab size): the model still guesses uniformly."""
    if not vocab_size or vocab_size < 2 or len(val) < MIN_EVALS:
        return None
    uniform = math.log(vocab_size)
    first, last = float(val[0]), float(val[-1])
    if last < UNIFORM_SHARE * uniform or first - last > UNIFORM_DROP * first:
        return None
    return Finding("not_learning", f"Not learning: the validation loss stays at {last:.3f}, near "
                   f"ln({vocab_size:,}) = {uniform:.3f}, the loss of a uniform guess over all "
                   f"{vocab_size:,} tokens. Check the learning rate: too low and nothing "
                   "moves, too high and the model can be thrown back here.")


def overfitting(steps: np.ndarray, train: np.ndarray, val: np.ndarray) -> Finding | None:
    """Validation rose clearly (beyond the noise) above its lowest point, an earlier evaluation,
    while the training loss kept falling; the finding's step is that lowest point's."""
    if len(val) < MIN_EVALS:
        return None
    best = int(np.argmin(val))
    if best == len(val) - 1:
        return None
    best_val, last_val = float(val[best]), float(val[-1])
    if last_val <= best_val + _noise(best_val) or train[-1] >= train[best]:
        return None
    step = int(steps[best])
    return Finding("overfitting", f"Overfitting since step {step:,}: the validation loss was "
                   f"lowest there ({best_val:.3f}) and has risen to {last_val:.3f}, while the "
                   f"training loss fell to {float(train[-1]):.3f}. The model is memorising its "
                   "training text; the best checkpoint is kept. More data, dropout or a "
                   "smaller model help.", step)


def _nan_note(n_skipped: int) -> Finding:
    few = "One step was" if n_skipped == 1 else f"{n_skipped:,} steps were"
    return Finding("nan_skips", f"{few} skipped because the loss or a gradient was not finite "
                   "(NaN or inf). A few are harmless; many mean the learning rate is too high "
                   "(or bf16 overflowed): lower it, or train in fp32.")


def count_skipped(step_losses: Sequence[float]) -> int:
    """Skipped steps in a per-step loss column (a skipped step's loss is NaN)."""
    return int(np.isnan(np.asarray(step_losses, dtype=float)).sum())
