"""Compression, perplexity and bits per byte, checked against hand-computed values."""

from __future__ import annotations

import math

import pytest

from gptstudio.core.data import bits_per_byte, bytes_per_token, perplexity
from gptstudio.core.errors import DatasetError


def test_bytes_per_token_counts_utf8_bytes():
    assert bytes_per_token("hello world", [1, 2]) == 5.5
    assert bytes_per_token("✓✓", 3) == 2.0  # two 3-byte characters over 3 tokens
    with pytest.raises(DatasetError):
        bytes_per_token("abc", [])


def test_perplexity():
    assert perplexity(0.0) == 1.0
    assert perplexity(math.log(65)) == pytest.approx(65)  # uniform over 65 characters
    assert perplexity(1000.0) == math.inf
    assert math.isnan(perplexity(math.nan))


def test_bits_per_byte_formula():
    # loss ln(2) nats per token, one token per byte: exactly one bit per byte
    assert bits_per_byte(math.log(2), 1000, 1000) == pytest.approx(1.0)
    # the module's worked example: char loss 1.0 vs BPE loss 3.0 at 4 bytes per token
    char = bits_per_byte(1.0, 400, 400)
    bpe = bits_per_byte(3.0, 100, 400)
    assert char == pytest.approx(1.4427, abs=1e-4) and bpe == pytest.approx(1.0820, abs=1e-4)
    assert bpe < char  # lower bpb = better model, although its loss per token is higher


def test_bits_per_byte_needs_positive_counts():
    with pytest.raises(DatasetError, match="positive counts"):
        bits_per_byte(1.0, 0, 10)
    with pytest.raises(DatasetError, match="positive counts"):
        bits_per_byte(1.0, 10, 0)
