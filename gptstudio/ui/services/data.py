"""`DataService`: the corpus and the tokenizer the next run will use, as core spec strings.

A corpus is a spec for core's `resolve_corpus` ("builtin:fables", "download:tinyshakespeare",
a URL, a path); a tokenizer a spec for `resolve_tokenizer` ("char", "bpe:512:gpt2", "gpt2", a
file path — an opened run's own tokenizer is its tokenizer file). Loading a file or a
download, training a BPE and loading a named encoding run in the background through those
resolvers (with their progress and cancel); characters and files are made at once.
Left out: widgets (the Setup tab shows all this) and the engine work itself.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal, Slot

from gptstudio.core.corpora import Corpus, corpus_label, resolve_corpus
from gptstudio.core.errors import GPTStudioError
from gptstudio.core.tokenizers import (
    MergeEvent,
    Tokenizer,
    named_encoding_statuses,
    parse_tokenizer_spec,
    resolve_tokenizer,
)
from gptstudio.ui.workers import TaskWorker, WorkerPlace

log = logging.getLogger(__name__)
CHARS_IN_BACKGROUND_BYTES = 4 << 20  # a character vocabulary of a larger corpus: off the GUI


class DataService(QObject):
    """Owns the corpus, the tokenizer and the workers that make them (see the module doc)."""

    corpus_loading = Signal(str)  # a label of what is being loaded
    corpus_progress = Signal(object)  # DownloadProgress
    corpus_changed = Signal(object)  # Corpus
    corpus_failed = Signal(str)  # a message, or "" when cancelled
    tokenizer_training = Signal(int)  # a BPE of this vocabulary size is being trained
    tokenizer_loading = Signal(str)  # a named encoding is being loaded (maybe downloaded)
    tokenizer_progress = Signal(object)  # MergeEvent
    tokenizer_changed = Signal(object)  # Tokenizer, or None while one must be trained first
    tokenizer_failed = Signal(str)  # a message, or "" when cancelled
    tiktoken_checked = Signal(object)  # {name: (available, reason)}
    error_raised = Signal(str, str)  # title, message

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.corpus: Corpus | None = None
        self.corpus_spec: str | None = None
        self.tokenizer: Tokenizer | None = None
        self.tokenizer_spec = "char"
        self.tiktoken_statuses: dict[str, tuple[bool, str]] | None = None  # once checked
        self._loading_spec = ""
        self._corpus_place = WorkerPlace("corpus", self)
        self._tokenizer_place = WorkerPlace("tokenizer", self)
        self._tiktoken_place = WorkerPlace("tiktoken-check", self)
        self._corpus_place.progressed.connect(self.corpus_progress)  # relayed in this thread
        self._corpus_place.succeeded.connect(self._on_corpus_loaded)
        self._corpus_place.failed.connect(self._on_corpus_failed)
        self._corpus_place.cancelled.connect(self._on_corpus_cancelled)
        self._tokenizer_place.progressed.connect(self.tokenizer_progress)
        self._tokenizer_place.succeeded.connect(self._set_tokenizer)
        self._tokenizer_place.failed.connect(self._on_tokenizer_failed)
        self._tokenizer_place.cancelled.connect(self._on_tokenizer_cancelled)
        self._tiktoken_place.succeeded.connect(self._on_tiktoken_checked)

    # -- corpus --------------------------------------------------------------------------------
    @property
    def is_loading_corpus(self) -> bool:
        return self._corpus_place.busy

    def load_corpus(self, spec: str, *, background: bool = True) -> None:
        """Load the corpus `spec` names; the result arrives as `corpus_changed`."""
        if self._corpus_place.closed:
            return
        self._corpus_place.retire()
        self.corpus_loading.emit(corpus_label(spec))
        if not background:
            try:
                self._set_corpus(spec, resolve_corpus(spec))
            except GPTStudioError as exc:
                self._report("Cannot open the corpus", str(exc), self.corpus_failed)
            return
        self._loading_spec = spec
        self._corpus_place.start(TaskWorker(
            lambda progress, cancel: resolve_corpus(spec, progress=progress, cancel=cancel)))

    def cancel_corpus_load(self) -> None:
        self._corpus_place.retire()
        self.corpus_failed.emit("")  # "" = cancelled: hide the progress, show no error

    @Slot(object)
    def _on_corpus_loaded(self, corpus: Corpus) -> None:
        self._set_corpus(self._loading_spec, corpus)

    @Slot(str)
    def _on_corpus_failed(self, message: str) -> None:
        self._report("Cannot open the corpus", message, self.corpus_failed)

    @Slot()
    def _on_corpus_cancelled(self) -> None:
        self.corpus_failed.emit("")

    def _set_corpus(self, spec: str, corpus: Corpus) -> None:
        self.corpus, self.corpus_spec = corpus, spec
        self.corpus_changed.emit(corpus)
        # A tokenizer learnt from the previous corpus no longer fits this one (a file, such as
        # an opened run's tokenizer, stays: the run was trained with it).
        if parse_tokenizer_spec(self.tokenizer_spec).kind in ("char", "bpe"):
            self.set_tokenizer(self.tokenizer_spec)

    # -- tokenizer -----------------------------------------------------------------------------
    @property
    def is_preparing_tokenizer(self) -> bool:
        return self._tokenizer_place.busy

    def set_tokenizer(self, spec: str) -> None:
        """Use the tokenizer `spec` names. Characters and files: now. A named encoding: in the
        background (it may download). A BPE: once `train_bpe()` has run."""
        self._tokenizer_place.retire()
        self.tokenizer_spec = spec
        try:
            kind = parse_tokenizer_spec(spec).kind
            if kind == "bpe":
                self._set_tokenizer(None)  # Start waits until train_bpe() has run
            elif kind == "tiktoken":
                self._set_tokenizer(None)
                self._tokenizer_place.start(TaskWorker(lambda _p, _c: resolve_tokenizer(spec)))
                self.tokenizer_loading.emit(f"Loading the {spec} encoding…")
            elif kind == "char" and self.corpus is None:
                self._set_tokenizer(None)
            elif kind == "char" and self.corpus.n_bytes > CHARS_IN_BACKGROUND_BYTES:
                # Reading and counting a large corpus would freeze the window: in the background.
                corpus = self.corpus
                self._set_tokenizer(None)
                self._tokenizer_place.start(TaskWorker(  # streamed: never the whole text
                    lambda _p, cancel: resolve_tokenizer(spec, corpus=corpus, cancel=cancel)))
                self.tokenizer_loading.emit("Collecting the corpus's characters…")
            elif kind == "char":
                # The vocabulary is the corpus's characters (+ the document separator).
                self._set_tokenizer(resolve_tokenizer(spec, self.corpus.text))
            else:
                self._set_tokenizer(resolve_tokenizer(spec))
        except GPTStudioError as exc:
            self._set_tokenizer(None)
            self._report("Cannot use this tokenizer", str(exc), self.tokenizer_failed)

    def use_tokenizer(self, spec: str, tokenizer: Tokenizer) -> None:
        """A tokenizer already made (an opened run's own) under the spec that reloads it."""
        self._tokenizer_place.retire()
        self.tokenizer_spec = spec
        self._set_tokenizer(tokenizer)

    def train_bpe(self, vocab_size: int, pattern: str) -> None:
        """Train a byte-level BPE on the corpus in the background (cancellable)."""
        if self.corpus is None:
            self._report("Cannot train the tokenizer", "Choose a corpus first.",
                         self.tokenizer_failed)
            return
        spec, corpus = f"bpe:{vocab_size}:{pattern}", self.corpus
        self._tokenizer_place.retire()
        self.tokenizer_spec = spec
        self._set_tokenizer(None)
        # The corpus is streamed in the worker (a large one is never read on the GUI thread, nor
        # held whole); tokenizer_progress gets the merges, not the word counting before them.
        started = self._tokenizer_place.start(TaskWorker(
            lambda progress, cancel: resolve_tokenizer(
                spec, corpus=corpus, cancel=cancel,
                progress=lambda e: progress(e) if isinstance(e, MergeEvent) else None)))
        if started:
            self.tokenizer_training.emit(vocab_size)

    def cancel_tokenizer(self) -> None:
        self._tokenizer_place.retire()
        self.tokenizer_failed.emit("")

    @Slot(str)
    def _on_tokenizer_failed(self, message: str) -> None:
        self._report("Cannot prepare the tokenizer", message, self.tokenizer_failed)

    @Slot()
    def _on_tokenizer_cancelled(self) -> None:
        self.tokenizer_failed.emit("")

    @Slot(object)
    def _set_tokenizer(self, tokenizer: Tokenizer | None) -> None:
        self.tokenizer = tokenizer
        self.tokenizer_changed.emit(tokenizer)

    def check_tiktoken(self) -> None:
        """Find out in the background which named encodings can be loaded (`tiktoken_checked`)."""
        self._tiktoken_place.start(TaskWorker(lambda _p, _c: named_encoding_statuses()))

    @Slot(object)
    def _on_tiktoken_checked(self, statuses: dict[str, tuple[bool, str]]) -> None:
        self.tiktoken_statuses = statuses
        self.tiktoken_checked.emit(statuses)

    # -- lifetime ------------------------------------------------------------------------------
    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        places = (self._corpus_place, self._tokenizer_place, self._tiktoken_place)
        return all([place.shutdown(timeout_ms) for place in places])

    def _report(self, title: str, message: str, signal: Signal) -> None:
        log.info("%s: %s", title, message)
        signal.emit(message)
        self.error_raised.emit(title, message)
