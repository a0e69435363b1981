"""Trains a byte-level BPE tokenizer in the background, reporting every merge.

The engine's `BPETokenizer.train` does the work; this worker only runs it off the GUI thread,
forwards its `MergeEvent`s through `merged`, and lets the user cancel between two merges.
Left out: drawing the progress (the Setup tab's tokenizer box).
"""

from __future__ import annotations

from PySide6.QtCore import Signal

from gptstudio.core.tokenizers import BPETokenizer
from gptstudio.ui.workers import Worker


class TokenizerWorker(Worker):
    """`succeeded(BPETokenizer)` when done, `cancelled` or `failed(str)` otherwise."""

    merged = Signal(object)  # MergeEvent

    def __init__(self, text: str, vocab_size: int, pattern: str) -> None:
        super().__init__()
        self.text = text
        self.vocab_size = vocab_size
        self.pattern = pattern

    def work(self) -> BPETokenizer:
        return BPETokenizer.train(self.text, self.vocab_size, pattern=self.pattern,
                                  progress=self.merged.emit, cancel=self.cancel_event)
