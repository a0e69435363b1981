"""`core/train/diagnose.py`: each finding on a synthetic curve made to show it (and only it)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gptstudio.core.train.diagnose import count_skipped, diagnose

STEPS = list(range(0, 2001, 100))  # 21 evaluations


def _kinds(findings) -> list[str]:
    return [f.kind for f in findings]


def test_a_falling_curve_is_still_learning():
    val = [4.2 * math.exp(-s / 800) + 1.2 for s in STEPS]
    train = [v - 0.05 for v in val]
    findings = diagnose(STEPS, train, val, vocab_size=65)
    assert _kinds(findings) == ["falling"]
    assert "More steps will help" in findings[0].message


def test_overfitting_names_the_step_where_validation_was_lowest():
    # Validation falls to its lowest at step 1200, then climbs; training keeps falling.
    val = [3.0 - 0.001 * s if s <= 1200 else 1.8 + 0.0008 * (s - 1200) for s in STEPS]
    train = [3.0 - 0.0012 * s for s in STEPS]
    findings = diagnose(STEPS, train, val, vocab_size=65)
    assert findings[0].kind == "overfitting"
    assert findings[0].step == 1200
    assert "1,200" in findings[0].message and "1.800" in findings[0].message


def test_the_books_chapter_5_shape_is_overfitting_from_its_lowest_point():
    # The figures: 9.924 -> lowest 6.123 (epoch 6) -> 6.373; train 9.817 -> 0.569.
    steps = [0, 6, 10]
    finding = diagnose(steps, [9.817, 2.0, 0.569], [9.924, 6.123, 6.373])[0]
    assert finding.kind == "overfitting" and finding.step == 6


def test_validation_noise_after_the_minimum_is_not_overfitting():
    val = [3.0, 2.5, 2.2, 2.1, 2.09, 2.10, 2.095]  # wobbles by less than the noise allowance
    train = [3.0, 2.45, 2.15, 2.05, 2.0, 1.98, 1.97]
    assert diagnose(STEPS[:7], train, val)[0].kind == "flat"


def test_a_loss_stuck_at_ln_vocab_is_not_learning():
    vocab = 65
    uniform = math.log(vocab)
    val = [uniform + 0.01 * (-1) ** i for i in range(10)]
    findings = diagnose(STEPS[:10], val, val, vocab_size=vocab)
    assert findings[0].kind == "not_learning"
    assert f"{uniform:.3f}" in findings[0].message and "learning rate" in findings[0].message


def test_a_loss_falling_from_ln_vocab_is_not_called_stuck():
    uniform = math.log(65)
    val = [uniform, uniform * 0.93, uniform * 0.88]  # clearly falling, still above 0.9 * ln V
    assert diagnose([0, 50, 100], val, val, vocab_size=65)[0].kind == "falling"


def test_a_flat_curve_has_levelled_off():
    val = [2.0 + 0.005 * (-1) ** i for i in range(12)]
    findings = diagnose(STEPS[:12], [v - 0.1 for v in val], val, vocab_size=65)
    assert _kinds(findings) == ["flat"]


def test_both_losses_rising_is_unstable():
    val = [3.0, 2.5, 2.3, 2.6, 3.0, 3.4]
    train = [3.0, 2.4, 2.2, 2.5, 2.9, 3.3]
    finding = diagnose(STEPS[:6], train, val)[0]
    assert finding.kind == "rising" and "lower learning rate" in finding.message


@pytest.mark.parametrize("n", [0, 1, 2])
def test_too_few_evaluations_to_tell(n):
    findings = diagnose(STEPS[:n], [3.0] * n, [3.0] * n, vocab_size=65)
    assert _kinds(findings) == ["too_early"]
    assert f"{n} evaluation" in findings[0].message


def test_unmeasured_evaluations_do_not_count():
    # Two of four evaluations have no validation loss (NaN): two left, too soon.
    val = [3.0, float("nan"), 2.5, float("nan")]
    assert diagnose(STEPS[:4], [3.0, 2.8, 2.4, 2.2], val)[0].kind == "too_early"


def test_skipped_steps_are_reported_beside_the_main_finding():
    losses = np.array([3.0, np.nan, 2.9, np.nan, np.nan, 2.8])
    assert count_skipped(losses) == 3
    val = [3.0, 2.6, 2.3, 2.1]
    findings = diagnose(STEPS[:4], val, val, n_skipped=count_skipped(losses))
    assert _kinds(findings) == ["falling", "nan_skips"]
    assert findings[1].message.startswith("3 steps were skipped")
    one = diagnose(STEPS[:1], [3.0], [3.0], n_skipped=1)
    assert _kinds(one) == ["too_early", "nan_skips"] and one[1].message.startswith("One step")
