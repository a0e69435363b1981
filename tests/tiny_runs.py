"""What the training tests share: one torch thread per module, and a small word-salad corpus.

Import the fixture into a test module (`from tests.tiny_runs import one_thread  # noqa: F401`)
to make it active there; call `word_salad_splits` from the module's own `data` fixture.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pytest
import torch

from gptstudio.core.tokenizers import CharTokenizer


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: on a small shared machine, two threads fighting other processes for
    the cores make these tiny steps many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def char_splits(text: str) -> tuple[CharTokenizer, np.ndarray, np.ndarray]:
    """(tokenizer, train ids, val ids): a character tokenizer of `text`, split 90/10."""
    tok = CharTokenizer.from_text(text)
    ids = np.array(tok.encode(text), dtype=np.uint16)
    cut = int(len(ids) * 0.9)
    return tok, ids[:cut], ids[cut:]


def word_salad_splits(words: Sequence[str], *, seed: int, n_words: int):
    """`char_splits` of `n_words` words drawn from `words` with `seed`."""
    rng = random.Random(seed)
    return char_splits(" ".join(rng.choice(list(words)) for _ in range(n_words)) + "\n")
