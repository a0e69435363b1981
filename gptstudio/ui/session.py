"""The Session: the one owner of the corpus, tokenizer, model run and background workers.

Tabs never talk to each other or to workers directly. They call Session methods (load a corpus,
train a tokenizer, start/pause/stop training, open a run) and listen to its signals. Workers'
signals arrive at `@Slot` methods here or are relayed by signal-to-signal connections, both of
which run in the GUI thread (PITFALLS: a lambda connected to a worker would run in the worker's
thread), so every Session signal is emitted in the GUI thread.

While training runs, the model belongs to the training worker alone (STYLE.md 7). Later tabs get
at it in two ways, both produced *inside* the worker between steps: attention snapshots every N
steps (`attention_ready`, numpy arrays) and a copy of the weights as numpy (`weights_ready`,
on request or every N steps; `latest_weights` keeps the newest one).

Left out: widgets (the tabs), and every piece of engine work (gptstudio.core).
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from gptstudio.core.corpora import Corpus
from gptstudio.core.errors import GPTStudioError
from gptstudio.core.tokenizers import CharTokenizer, Tokenizer
from gptstudio.ui.corpus_loader import describe_choice, load_choice
from gptstudio.ui.run_files import OpenedRun, default_runs_root, is_run_folder, open_run_folder
from gptstudio.ui.tokenizer_choice import TokenizerChoice, named_tokenizer, tiktoken_statuses
from gptstudio.ui.tokenizer_worker import TokenizerWorker
from gptstudio.ui.train_worker import TrainJob, TrainWorker, WeightsSnapshot
from gptstudio.ui.workers import TaskWorker, Worker, WorkerSlots

log = logging.getLogger(__name__)

# Training states, as shown in the status bar.
IDLE, PREPARING, TRAINING, PAUSED, STOPPING = "idle", "preparing", "training", "paused", "stopping"
CORPUS, TOKENIZER, TIKTOKEN, TRAIN = "corpus", "tokenizer", "tiktoken", "train"  # worker places


class Session(QObject):
    """State and workers of one GPT Studio window; see the module docstring."""

    corpus_loading = Signal(str)  # a label of what is being loaded
    corpus_progress = Signal(object)  # DownloadProgress
    corpus_changed = Signal(object)  # Corpus
    corpus_failed = Signal(str)  # a message, or "" when cancelled
    tokenizer_training = Signal(int)  # the target vocabulary size
    tokenizer_loading = Signal(str)  # a named encoding is being loaded (maybe downloaded)
    tokenizer_progress = Signal(object)  # MergeEvent
    tokenizer_changed = Signal(object)  # Tokenizer, or None while one must be trained first
    tokenizer_failed = Signal(str)  # a message, or "" when cancelled
    tiktoken_checked = Signal(object)  # {name: (available, reason)}
    training_state_changed = Signal(str)
    run_started = Signal(object)  # RunStarted (from the worker, once the run is ready)
    step_finished = Signal(object)  # StepEvent
    eval_finished = Signal(object)  # EvalEvent
    sample_ready = Signal(object)  # SampleEvent
    checkpoint_saved = Signal(object)  # CheckpointEvent
    status_changed = Signal(str)  # a sentence for the status bar
    warning_raised = Signal(str)
    attention_ready = Signal(object)  # AttentionSnapshot, every attention_interval steps
    weights_ready = Signal(object)  # WeightsSnapshot
    run_opened = Signal(object)  # OpenedRun (curves and configs of a run folder)
    run_closed = Signal()  # "New run": forget the current run
    error_raised = Signal(str, str)  # title, message: the window shows a dialog

    def __init__(self, parent: QObject | None = None, runs_root: Path | None = None) -> None:
        super().__init__(parent)
        self.runs_root = Path(runs_root) if runs_root is not None else default_runs_root()
        self.corpus: Corpus | None = None
        self.corpus_spec: str | None = None
        self.tokenizer: Tokenizer | None = None
        self.tokenizer_choice = TokenizerChoice("char")
        self.tiktoken_statuses: dict[str, tuple[bool, str]] | None = None  # once checked
        self.state = IDLE
        self.run_dir: Path | None = None  # the run being trained, or the one opened
        self.opened_run: OpenedRun | None = None  # set while an opened run can be resumed
        self.latest_weights: WeightsSnapshot | None = None
        self.attention_interval = 0  # 0: no attention snapshots (no tab needs them yet)
        self.attention_prompt = ""
        self.weights_interval = 0  # 0: weights only on request
        self.workers = WorkerSlots(self)
        self.closed = False  # after shutdown() no worker may start (late timers, queued calls)
        self._loading_spec = ""

    # ==== corpus ==================================================================================
    def load_corpus(self, spec: str, *, background: bool = True) -> None:
        """Load a corpus choice (see corpus_loader); the result arrives as `corpus_changed`."""
        if self.closed:
            return
        self.workers.retire(CORPUS)
        self.corpus_loading.emit(describe_choice(spec))
        if not background:
            try:
                corpus = load_choice(spec)
            except GPTStudioError as exc:
                self._report("Cannot open the corpus", str(exc), self.corpus_failed)
                return
            self._set_corpus(spec, corpus)
            return
        worker = TaskWorker(lambda progress, cancel: load_choice(spec, progress, cancel))
        worker.progressed.connect(self.corpus_progress)  # relayed in the GUI thread
        worker.succeeded.connect(self._on_corpus_loaded)
        worker.failed.connect(self._on_corpus_failed)
        worker.cancelled.connect(self._on_corpus_cancelled)
        self._loading_spec = spec
        self.workers.start(CORPUS, worker, "corpus-loader")

    def cancel_corpus_load(self) -> None:
        self.workers.retire(CORPUS)
        self.corpus_failed.emit("")  # "" = cancelled: hide the progress, show no error

    def is_loading_corpus(self) -> bool:
        return self.workers.get(CORPUS) is not None

    @Slot(object)
    def _on_corpus_loaded(self, corpus: Corpus) -> None:
        if self.workers.is_current(CORPUS, self.sender()):
            self.workers.release(CORPUS)
            self._set_corpus(self._loading_spec, corpus)

    @Slot(str)
    def _on_corpus_failed(self, message: str) -> None:
        if self.workers.is_current(CORPUS, self.sender()):
            self.workers.release(CORPUS)
            self._report("Cannot open the corpus", message, self.corpus_failed)

    @Slot()
    def _on_corpus_cancelled(self) -> None:
        if self.workers.is_current(CORPUS, self.sender()):
            self.workers.release(CORPUS)
            self.corpus_failed.emit("")

    def _set_corpus(self, spec: str, corpus: Corpus) -> None:
        self.corpus, self.corpus_spec = corpus, spec
        self.corpus_changed.emit(corpus)
        # A tokenizer learnt from the previous corpus no longer fits this one (an opened run's
        # tokenizer, kind "run", stays: the run was trained with it).
        if self.tokenizer_choice.kind in ("char", "bpe"):
            self.set_tokenizer(self.tokenizer_choice)

    # ==== tokenizer ===============================================================================
    def set_tokenizer(self, choice: TokenizerChoice) -> None:
        """Make the tokenizer the Setup tab chose. Char/file/run: now. tiktoken: in the
        background (it may download). BPE: once `train_bpe()` has run."""
        self.workers.retire(TOKENIZER)
        self.tokenizer_choice = choice
        try:
            if choice.kind == "char":
                # The vocabulary is the corpus's characters (+ the document separator).
                chars = CharTokenizer.from_text(self.corpus.text) if self.corpus else None
                self._set_tokenizer(chars)
            elif choice.kind == "bpe":
                self._set_tokenizer(None)  # Start waits until train_bpe() has run
            elif choice.kind.startswith("tiktoken:"):
                self._set_tokenizer(None)
                name = choice.kind.split(":", 1)[1]
                self._start_tokenizer_task(TaskWorker(lambda _p, _c: named_tokenizer(name)),
                                           f"Loading the {name} encoding…")
            elif choice.kind == "run":  # back to the opened run's own tokenizer
                self._set_tokenizer(self.opened_run.tokenizer if self.opened_run else None)
            elif choice.kind == "file":
                from gptstudio.core.tokenizers import load_tokenizer

                self._set_tokenizer(load_tokenizer(choice.path))
            else:
                raise ValueError(f"unknown tokenizer kind {choice.kind!r}")
        except GPTStudioError as exc:
            self._set_tokenizer(None)
            self._report("Cannot use this tokenizer", str(exc), self.tokenizer_failed)

    def train_bpe(self, vocab_size: int, pattern: str) -> None:
        """Train a BPE tokenizer on the corpus in the background (cancellable)."""
        if self.closed:
            return
        if self.corpus is None:
            self._report("Cannot train the tokenizer", "Choose a corpus first.",
                         self.tokenizer_failed)
            return
        self.tokenizer_choice = TokenizerChoice("bpe", vocab_size, pattern)
        self._set_tokenizer(None)
        worker = TokenizerWorker(self.corpus.text, vocab_size, pattern)
        worker.merged.connect(self.tokenizer_progress)  # relayed in the GUI thread
        self._start_tokenizer_task(worker, "")
        self.tokenizer_training.emit(vocab_size)

    def _start_tokenizer_task(self, worker: Worker, label: str) -> None:
        if self.closed:
            return
        worker.succeeded.connect(self._on_tokenizer_ready)
        worker.failed.connect(self._on_tokenizer_failed)
        worker.cancelled.connect(self._on_tokenizer_cancelled)
        self.workers.start(TOKENIZER, worker, "tokenizer-task")
        if label:
            self.tokenizer_loading.emit(label)

    def cancel_tokenizer_training(self) -> None:
        self.workers.retire(TOKENIZER)
        self.tokenizer_failed.emit("")

    def is_training_tokenizer(self) -> bool:
        return self.workers.get(TOKENIZER) is not None

    @Slot(object)
    def _on_tokenizer_ready(self, tokenizer: Tokenizer) -> None:
        if self.workers.is_current(TOKENIZER, self.sender()):
            self.workers.release(TOKENIZER)
            self._set_tokenizer(tokenizer)

    @Slot(str)
    def _on_tokenizer_failed(self, message: str) -> None:
        if self.workers.is_current(TOKENIZER, self.sender()):
            self.workers.release(TOKENIZER)
            self._report("Cannot prepare the tokenizer", message, self.tokenizer_failed)

    @Slot()
    def _on_tokenizer_cancelled(self) -> None:
        if self.workers.is_current(TOKENIZER, self.sender()):
            self.workers.release(TOKENIZER)
            self.tokenizer_failed.emit("")

    def _set_tokenizer(self, tokenizer: Tokenizer | None) -> None:
        self.tokenizer = tokenizer
        self.tokenizer_changed.emit(tokenizer)

    def check_tiktoken(self) -> None:
        """Find out in the background which named encodings can be loaded (`tiktoken_checked`)."""
        if self.closed:
            return
        worker = TaskWorker(lambda _p, _c: tiktoken_statuses())
        worker.succeeded.connect(self._on_tiktoken_checked)
        self.workers.start(TIKTOKEN, worker, "tiktoken-check")

    @Slot(object)
    def _on_tiktoken_checked(self, statuses: dict[str, tuple[bool, str]]) -> None:
        if self.workers.is_current(TIKTOKEN, self.sender()):
            self.workers.release(TIKTOKEN)
            self.tiktoken_statuses = statuses
            self.tiktoken_checked.emit(statuses)

    # ==== training ================================================================================
    @property
    def is_training(self) -> bool:
        """True from Start until the worker has finished (also while paused or stopping)."""
        return self.workers.get(TRAIN) is not None

    def _trainer(self) -> TrainWorker | None:
        handle = self.workers.get(TRAIN)
        return handle.worker if handle is not None else None  # type: ignore[return-value]

    def start_training(self, model_config: Any, train_config: Any) -> bool:
        """Start (or, for an opened run, resume) training on a worker thread; False if refused."""
        if self.is_training or self.closed:
            return False
        if self.corpus is None or self.tokenizer is None:
            self._report("Cannot start training",
                         "Choose a corpus and a tokenizer on the Setup tab first.", None)
            return False
        resume = self.opened_run is not None and self.opened_run.can_resume
        run_dir = self.opened_run.path if resume else self._new_run_dir(model_config)
        worker = TrainWorker(TrainJob(
            corpus=self.corpus, corpus_spec=self.corpus_spec or self.corpus.source,
            tokenizer=self.tokenizer, model_config=model_config, train_config=train_config,
            run_dir=run_dir, resume=resume, attention_interval=self.attention_interval,
            attention_prompt=self.attention_prompt, weights_interval=self.weights_interval,
        ))
        # Plain relays: signal-to-signal connections re-emit in this (the GUI) thread.
        for source, target in ((worker.step_finished, self.step_finished),
                               (worker.eval_finished, self.eval_finished),
                               (worker.sample_ready, self.sample_ready),
                               (worker.checkpoint_saved, self.checkpoint_saved),
                               (worker.status_changed, self.status_changed),
                               (worker.warning_raised, self.warning_raised),
                               (worker.attention_ready, self.attention_ready)):
            source.connect(target)
        worker.run_started.connect(self._on_run_started)
        worker.weights_ready.connect(self._on_weights_ready)
        worker.failed.connect(self._on_training_failed)
        worker.finished.connect(self._on_training_finished)
        self.run_dir = run_dir
        self.workers.start(TRAIN, worker, "trainer")
        self._set_state(PREPARING)
        return True

    def pause(self) -> None:
        """Pause before the next step (the worker keeps serving save/weights requests)."""
        if self.state == TRAINING:
            self._trainer().pause()
            self._set_state(PAUSED)

    def resume(self) -> None:
        if self.state == PAUSED:
            self._trainer().resume()
            self._set_state(TRAINING)

    def stop(self, save: bool = True) -> None:
        """Ask the worker to stop after the current step. With `save` (the default) the engine
        writes a final checkpoint, so the run can be resumed from where it stopped."""
        if self.is_training and self.state != STOPPING:
            self._trainer().request_stop(save=save)
            self._set_state(STOPPING)

    def save_checkpoint(self) -> bool:
        """Ask the worker to save a checkpoint at the next step; False when not training."""
        if not self.is_training:
            return False
        self._trainer().request_checkpoint()
        return True

    def set_learning_rate(self, lr: float) -> None:
        """A new peak learning rate from the next step on (the engine checks the value)."""
        if self.is_training:
            self._trainer().control.set_learning_rate(lr)

    def request_weights(self) -> bool:
        """Ask for a numpy copy of the weights (`weights_ready`); False when not training."""
        if not self.is_training:
            return False
        self._trainer().request_weights()
        return True

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.training_state_changed.emit(state)

    def _new_run_dir(self, model_config: Any) -> Path:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        corpus = (self.corpus.name if self.corpus else "corpus").replace("/", "-")[:24]
        base = f"{stamp}-{model_config.arch}-{corpus}"
        path, n = self.runs_root / base, 2
        while path.exists():  # two starts within one second
            path, n = self.runs_root / f"{base}-{n}", n + 1
        return path

    @Slot(object)
    def _on_run_started(self, info: Any) -> None:
        if self.workers.is_current(TRAIN, self.sender()):
            self.opened_run = None  # it is running now; its curves come live
            self._set_state(PAUSED if self._trainer().control.paused else TRAINING)
            self.run_started.emit(info)

    @Slot(object)
    def _on_weights_ready(self, snapshot: WeightsSnapshot) -> None:
        if self.workers.is_current(TRAIN, self.sender()):
            self.latest_weights = snapshot
            self.weights_ready.emit(snapshot)

    @Slot(str)
    def _on_training_failed(self, message: str) -> None:
        if self.workers.is_current(TRAIN, self.sender()):
            self._report("Training stopped", message, None)

    @Slot()
    def _on_training_finished(self) -> None:
        if self.workers.is_current(TRAIN, self.sender()):
            # run() has returned, so the thread ends right away: wait for it, so that "idle"
            # really means no training thread is left.
            self.workers.get(TRAIN).thread.wait(5_000)
            self.workers.release(TRAIN)
            self._remember_finished_run()
            self._set_state(IDLE)

    def _remember_finished_run(self) -> None:
        """A stopped or finished run can be continued: Start then resumes it."""
        self.opened_run = None
        if self.run_dir is not None and is_run_folder(self.run_dir):
            try:
                self.opened_run = open_run_folder(self.run_dir)
            except GPTStudioError as exc:
                log.warning("cannot re-read the run %s: %s", self.run_dir, exc)

    # ==== runs ====================================================================================
    def open_run(self, path: str | Path) -> bool:
        """Read a run folder: its configs and curves (`run_opened`); Start then resumes it."""
        if self.is_training:
            self._report("Cannot open a run", "Stop the current training first.", None)
            return False
        try:
            opened = open_run_folder(Path(path))
        except GPTStudioError as exc:
            self._report("Cannot open the run", str(exc), None)
            return False
        self.opened_run = opened
        self.run_dir = opened.path
        # The run's own tokenizer: its ids are what the checkpoint learnt.
        self.set_tokenizer(TokenizerChoice("run"))
        spec = opened.corpus_spec
        if spec and spec != self.corpus_spec:
            # Bundled corpora load at once; files and downloads in the background.
            self.load_corpus(spec, background=not spec.startswith("builtin:"))
        self.run_opened.emit(opened)
        return True

    def new_run(self) -> None:
        """Forget the current run (curves, resume point); keep corpus and tokenizer."""
        if self.is_training:
            return
        self.opened_run = None
        self.run_dir = None
        self.latest_weights = None
        self.run_closed.emit()

    # ==== lifetime ================================================================================
    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop every worker and wait for its thread; True if all ended in time."""
        self.closed = True
        ok = self.workers.shutdown(timeout_ms)
        self._set_state(IDLE)
        return ok

    def _report(self, title: str, message: str, signal: Any) -> None:
        log.info("%s: %s", title, message)
        if signal is not None:
            signal.emit(message)
        self.error_raised.emit(title, message)
