"""`TokenizerLab`: the Tokenizer tab's background work, one `WorkerPlace` per kind.

Explaining text (tokenizing it for the views), training a BPE, loading a tokenizer file or a
named encoding, tokenizing the corpus for the window explorer, listing a vocabulary and a
full-pass evaluation of a run all run here, off the GUI thread, through core's functions; a new
request of a kind retires the one before (its late answer is dropped by the place). BPE merges
are passed on in batches (one signal per ~50 ms of training, not one per merge), so a long
training never floods the GUI thread. The tab owns this object and shuts it down on
`Session.closing`. Left out: widgets, and what the jobs compute (gptstudio.core).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal, Slot

from gptstudio.core.corpora import Corpus
from gptstudio.core.data import tokenize_corpus
from gptstudio.core.tokenizers import MergeEvent, Tokenizer, resolve_tokenizer
from gptstudio.core.tokenizers.vocab import vocabulary
from gptstudio.ui.workers import TaskWorker, WorkerPlace

BATCH_SECONDS = 0.05  # merges reach the GUI at most ~20 times a second


@dataclass(frozen=True)
class Loaded:
    """A tokenizer loaded for `key` (a file path or an encoding name)."""

    key: str
    tokenizer: Tokenizer


@dataclass(frozen=True, eq=False)
class CorpusTokens:
    """The corpus tokenized with `tokenizer` (the engine's cached, memory-mapped row)."""

    corpus: Corpus
    tokenizer: Tokenizer
    tokens: np.ndarray


class MergeBatcher:
    """Collects MergeEvents in the worker thread and passes them on as tuples, every
    BATCH_SECONDS and at the end."""

    def __init__(self, emit: Callable[[Any], None]) -> None:
        self.emit, self.pending, self.sent_at = emit, [], time.monotonic()

    def __call__(self, event: MergeEvent) -> None:
        self.pending.append(event)
        if time.monotonic() - self.sent_at >= BATCH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.emit(tuple(self.pending))
            self.pending = []
        self.sent_at = time.monotonic()


def _train(text: str, vocab_size: int, pattern: str
           ) -> Callable[[Callable[[Any], None], threading.Event], Tokenizer]:
    def work(progress: Callable[[Any], None], cancel: threading.Event) -> Tokenizer:
        batcher = MergeBatcher(progress)
        try:
            return resolve_tokenizer(f"bpe:{vocab_size}:{pattern}", text, progress=batcher,
                                     cancel=cancel)
        finally:
            batcher.flush()  # the last merges arrive before the result
    return work


class TokenizerLab(QObject):
    """See the module docstring. Each `failed`-style signal carries a message ("" when the
    work was cancelled)."""

    explained = Signal(object)  # what the explain job returned
    explain_failed = Signal(str)
    merges_learned = Signal(object)  # tuple[MergeEvent, ...]
    bpe_trained = Signal(object)  # BPETokenizer
    bpe_failed = Signal(str)
    loaded = Signal(object)  # Loaded
    load_failed = Signal(str, str)  # key, message
    corpus_tokens_ready = Signal(object)  # CorpusTokens
    corpus_tokens_progress = Signal(object)  # TokenizeProgress
    corpus_tokens_failed = Signal(str)
    vocabulary_ready = Signal(object)  # (Tokenizer, Vocabulary)
    vocabulary_failed = Signal(str)
    evaluated = Signal(object)  # RunEvaluation
    evaluation_progress = Signal(object)  # TokenizeProgress or FullPassProgress
    evaluation_failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._loading_key = ""
        self._places: dict[str, WorkerPlace] = {}
        self._failed: dict[WorkerPlace, Signal] = {}  # where a cancelled place says ""
        self._explain = self._place("explain", self.explained, self.explain_failed)
        self._bpe = self._place("bpe", self.bpe_trained, self.bpe_failed, self.merges_learned)
        self._load = self._place("tokenizer-file", self.loaded, None)
        self._load.failed.connect(self._on_load_failed)
        self._corpus = self._place("corpus-tokens", self.corpus_tokens_ready,
                                   self.corpus_tokens_failed, self.corpus_tokens_progress)
        self._vocab = self._place("vocabulary", self.vocabulary_ready, self.vocabulary_failed)
        self._eval = self._place("full-pass", self.evaluated, self.evaluation_failed,
                                 self.evaluation_progress)

    def _place(self, name: str, done: Signal, failed: Signal | None,
               progress: Signal | None = None) -> WorkerPlace:
        place = WorkerPlace(name, self)
        place.succeeded.connect(done)  # signal-to-signal relays, in the GUI thread
        if failed is not None:
            place.failed.connect(failed)
            place.cancelled.connect(self._on_cancelled)
            self._failed[place] = failed
        if progress is not None:
            place.progressed.connect(progress)
        self._places[name] = place
        return place

    # -- requests ------------------------------------------------------------------------------
    def explain(self, job: Callable[[], object]) -> None:
        """Run `job()` (tokenizing for the views); its result comes as `explained`."""
        self._explain.start(TaskWorker(lambda _p, _c: job()))

    @property
    def is_training(self) -> bool:
        return self._bpe.busy

    def train_bpe(self, text: str, vocab_size: int, pattern: str) -> bool:
        """Train a byte-level BPE on `text`; batches of merges, then `bpe_trained`."""
        return self._bpe.start(TaskWorker(_train(text, vocab_size, pattern)))

    def cancel_bpe(self) -> None:
        if self._bpe.busy:
            self._bpe.retire()
            self.bpe_failed.emit("")

    def load(self, key: str) -> None:
        """Load a tokenizer file or a named encoding (`resolve_tokenizer`); `loaded` or
        `load_failed(key, message)`."""
        self._loading_key = key
        self._load.start(TaskWorker(lambda _p, _c: Loaded(key, resolve_tokenizer(key))))

    def tokenize_corpus(self, corpus: Corpus, tokenizer: Tokenizer) -> None:
        """The corpus as the engine tokenizes it for training (cached on disk)."""
        self._corpus.start(TaskWorker(lambda progress, cancel: CorpusTokens(
            corpus, tokenizer, tokenize_corpus(corpus, tokenizer, progress=progress,
                                               cancel=cancel))))

    def list_vocabulary(self, tokenizer: Tokenizer) -> None:
        self._vocab.start(TaskWorker(lambda _p, _c: (tokenizer, vocabulary(tokenizer))))

    @property
    def is_evaluating(self) -> bool:
        return self._eval.busy

    def evaluate(self, run_dir: Path, stride: int) -> None:
        """A full pass over the run's validation split with windows every `stride` tokens."""
        from gptstudio.core.pipeline import evaluate_run  # torch: only once it is asked for

        self._eval.start(TaskWorker(lambda progress, cancel: evaluate_run(
            run_dir, stride=stride, progress=progress, cancel=cancel)))

    def cancel_evaluation(self) -> None:
        if self._eval.busy:
            self._eval.retire()
            self.evaluation_failed.emit("")

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        return all([place.shutdown(timeout_ms) for place in self._places.values()])

    @Slot(str)
    def _on_load_failed(self, message: str) -> None:
        self.load_failed.emit(self._loading_key, message)

    @Slot()
    def _on_cancelled(self) -> None:
        failed = self._failed.get(self.sender())  # type: ignore[call-overload]
        if failed is not None:
            failed.emit("")
