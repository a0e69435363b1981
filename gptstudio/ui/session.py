"""The Session: the one owner of the corpus, tokenizer, model run and background workers.

Tabs never talk to each other or to workers directly. They call Session methods (load a corpus,
train a tokenizer, start/pause/stop training, open a run) and listen to its signals. Workers'
signals arrive at `@Slot` methods here, in the GUI thread (PITFALLS: lambdas would run in the
worker thread), and are re-emitted as the Session's own signals.

While training runs, the model belongs to the training worker alone (STYLE.md 7). Later tabs get
at it in two ways, both produced *inside* the worker between steps: attention snapshots every N
steps (`attention_ready`, numpy arrays) and a copy of the weights as numpy (`weights_ready`,
on request or every N steps; `latest_weights` keeps the newest one).

Left out: widgets (the tabs), and every piece of engine work (gptstudio.core).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from gptstudio.core.corpora import Corpus
from gptstudio.core.errors import GPTStudioError
from gptstudio.core.tokenizers import CharTokenizer, Tokenizer
from gptstudio.ui.corpus_loader import describe_choice, load_choice
from gptstudio.ui.run_files import OpenedRun, default_runs_root, is_run_folder, open_run_folder
from gptstudio.ui.tokenizer_worker import TokenizerWorker
from gptstudio.ui.train_worker import TrainJob, TrainWorker, WeightsSnapshot
from gptstudio.ui.workers import TaskWorker, Worker, WorkerHandle, start_worker

log = logging.getLogger(__name__)

TIKTOKEN_NAMES = ("gpt2", "cl100k_base", "o200k_base")

# Training states, as shown in the status bar.
IDLE, PREPARING, TRAINING, PAUSED, STOPPING = "idle", "preparing", "training", "paused", "stopping"


@dataclass(frozen=True)
class TokenizerChoice:
    """What the Setup tab asked for: "char", "bpe" (vocab_size, pattern), "tiktoken:NAME",
    "file" (path), or "run" (the tokenizer of an opened run)."""

    kind: str
    vocab_size: int = 512
    pattern: str = "gpt2"
    path: str = ""


def _named_tokenizer(name: str) -> Tokenizer:
    from gptstudio.core.tokenizers import TiktokenTokenizer

    return TiktokenTokenizer.named(name)


def tiktoken_statuses() -> dict[str, tuple[bool, str]]:
    """(available, reason) of each named encoding; may probe the network for ~2 s."""
    from gptstudio.core.tokenizers import named_encoding_status

    return {name: named_encoding_status(name) for name in TIKTOKEN_NAMES}


class Session(QObject):
    """State and workers of one GPT Studio window; see the module docstring."""

    corpus_loading = Signal(str)  # a label of what is being loaded
    corpus_progress = Signal(object)  # DownloadProgress
    corpus_changed = Signal(object)  # Corpus
    corpus_failed = Signal(str)
    tokenizer_training = Signal(int)  # the target vocabulary size
    tokenizer_progress = Signal(object)  # MergeEvent
    tokenizer_loading = Signal(str)  # a named encoding is being loaded (maybe downloaded)
    tokenizer_changed = Signal(object)  # Tokenizer, or None while one must be trained first
    tokenizer_failed = Signal(str)
    tiktoken_checked = Signal(object)  # {name: (available, reason)}
    training_state_changed = Signal(str)
    run_started = Signal(object)  # RunStarted (from the worker, once the run is ready)
    step_finished = Signal(object)  # StepEvent
    eval_finished = Signal(object)  # EvalEvent
    sample_ready = Signal(object)  # SampleEvent
    checkpoint_saved = Signal(object)  # CheckpointEvent
    status_changed = Signal(str)  # a sentence for the status bar
    warning_raised = Signal(str)
    run_opened = Signal(object)  # OpenedRun (curves and configs of a run folder)
    run_closed = Signal()  # "New run": forget the current run
    attention_ready = Signal(object)  # AttentionSnapshot, every attention_interval steps
    weights_ready = Signal(object)  # WeightsSnapshot
    error_raised = Signal(str, str)  # title, message: the window shows a dialog

    def __init__(self, parent: QObject | None = None, runs_root: Path | None = None) -> None:
        super().__init__(parent)
        self.runs_root = Path(runs_root) if runs_root is not None else default_runs_root()
        self.corpus: Corpus | None = None
        self.corpus_spec: str | None = None
        self.tokenizer: Tokenizer | None = None
        self.tokenizer_choice = TokenizerChoice("char")
        self.state = IDLE
        self.run_dir: Path | None = None  # the run being trained, or the one opened
        self.opened_run: OpenedRun | None = None  # set while an opened run can be resumed
        self.latest_weights: WeightsSnapshot | None = None
        self.attention_interval = 0  # 0: no attention snapshots (no tab needs them yet)
        self.attention_prompt = ""
        self.weights_interval = 0  # 0: weights only on request
        self._corpus_task: WorkerHandle | None = None
        self._loading_spec = ""
        self._tokenizer_task: WorkerHandle | None = None
        self._tiktoken_task: WorkerHandle | None = None
        self._train: WorkerHandle | None = None
        self._retired: list[WorkerHandle] = []  # asked to stop, maybe still finishing
        self.closed = False  # after shutdown() no worker may start (late timers, queued calls)

    # ==== corpus ==================================================================================
    def load_corpus(self, spec: str, *, background: bool = True) -> None:
        """Load a corpus choice (see corpus_loader); the result arrives as `corpus_changed`."""
        if self.closed:
            return
        self._retire("_corpus_task")
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
        self._loading_spec = spec
        worker.progressed.connect(self._on_corpus_progressed)
        worker.succeeded.connect(self._on_corpus_loaded)
        worker.failed.connect(self._on_corpus_failed)
        worker.cancelled.connect(self._on_corpus_cancelled)
        self._corpus_task = start_worker(worker, "corpus-loader")

    def cancel_corpus_load(self) -> None:
        self._retire("_corpus_task")
        self.corpus_failed.emit("")  # "" = cancelled: hide the progress, show no error

    def is_loading_corpus(self) -> bool:
        return self._corpus_task is not None

    @Slot(object)
    def _on_corpus_progressed(self, event: Any) -> None:
        if self._is_current(self._corpus_task):
            self.corpus_progress.emit(event)

    @Slot(object)
    def _on_corpus_loaded(self, corpus: Corpus) -> None:
        if self._is_current(self._corpus_task):
            self._corpus_task = None
            self._set_corpus(self._loading_spec, corpus)

    @Slot(str)
    def _on_corpus_failed(self, message: str) -> None:
        if self._is_current(self._corpus_task):
            self._corpus_task = None
            self._report("Cannot open the corpus", message, self.corpus_failed)

    @Slot()
    def _on_corpus_cancelled(self) -> None:
        if self._is_current(self._corpus_task):
            self._corpus_task = None
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
        """Make the tokenizer the Setup tab chose. Char/tiktoken/file: now. BPE: needs training."""
        self._retire("_tokenizer_task")
        self.tokenizer_choice = choice
        try:
            if choice.kind == "char":
                if self.corpus is None:
                    self._set_tokenizer(None)
                    return
                # The vocabulary is the corpus's characters (+ the document separator).
                self._set_tokenizer(CharTokenizer.from_text(self.corpus.text))
            elif choice.kind == "bpe":
                self._set_tokenizer(None)  # Start waits until train_bpe() has run
            elif choice.kind.startswith("tiktoken:"):
                # May download the rank file once: in the background, like BPE training.
                self._set_tokenizer(None)
                name = choice.kind.split(":", 1)[1]
                self._start_tokenizer_task(TaskWorker(lambda _p, _c: _named_tokenizer(name)),
                                           f"Loading the {name} encoding…")
            elif choice.kind == "run":
                pass  # set by open_run()
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
        self._retire("_tokenizer_task")
        self.tokenizer_choice = TokenizerChoice("bpe", vocab_size, pattern)
        self._set_tokenizer(None)
        worker = TokenizerWorker(self.corpus.text, vocab_size, pattern)
        worker.merged.connect(self._on_tokenizer_merged)
        self._start_tokenizer_task(worker, "")
        self.tokenizer_training.emit(vocab_size)

    def _start_tokenizer_task(self, worker: Worker, label: str) -> None:
        if self.closed:
            return
        worker.succeeded.connect(self._on_tokenizer_trained)
        worker.failed.connect(self._on_tokenizer_failed)
        worker.cancelled.connect(self._on_tokenizer_cancelled)
        self._tokenizer_task = start_worker(worker, "tokenizer-task")
        if label:
            self.tokenizer_loading.emit(label)

    def cancel_tokenizer_training(self) -> None:
        self._retire("_tokenizer_task")
        self.tokenizer_failed.emit("")

    def is_training_tokenizer(self) -> bool:
        return self._tokenizer_task is not None

    @Slot(object)
    def _on_tokenizer_merged(self, event: Any) -> None:
        if self._is_current(self._tokenizer_task):
            self.tokenizer_progress.emit(event)

    @Slot(object)
    def _on_tokenizer_trained(self, tokenizer: Tokenizer) -> None:
        if self._is_current(self._tokenizer_task):
            self._tokenizer_task = None
            self._set_tokenizer(tokenizer)

    @Slot(str)
    def _on_tokenizer_failed(self, message: str) -> None:
        if self._is_current(self._tokenizer_task):
            self._tokenizer_task = None
            self._report("Cannot train the tokenizer", message, self.tokenizer_failed)

    @Slot()
    def _on_tokenizer_cancelled(self) -> None:
        if self._is_current(self._tokenizer_task):
            self._tokenizer_task = None
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
        self._retire("_tiktoken_task")
        self._tiktoken_task = start_worker(worker, "tiktoken-check")

    @Slot(object)
    def _on_tiktoken_checked(self, statuses: dict[str, tuple[bool, str]]) -> None:
        if self._is_current(self._tiktoken_task):
            self._tiktoken_task = None
            self.tiktoken_checked.emit(statuses)

    # ==== training ================================================================================
    @property
    def is_training(self) -> bool:
        """True from Start until the worker has finished (also while paused or stopping)."""
        return self._train is not None

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
        job = TrainJob(
            corpus=self.corpus, corpus_spec=self.corpus_spec or self.corpus.source,
            tokenizer=self.tokenizer, model_config=model_config,
            train_config=train_config, run_dir=run_dir, resume=resume,
            attention_interval=self.attention_interval, attention_prompt=self.attention_prompt,
            weights_interval=self.weights_interval,
        )
        worker = TrainWorker(job)
        worker.run_started.connect(self._on_run_started)
        worker.step_finished.connect(self._on_step_finished)
        worker.eval_finished.connect(self._on_eval_finished)
        worker.sample_ready.connect(self._on_sample_ready)
        worker.checkpoint_saved.connect(self._on_checkpoint_saved)
        worker.status_changed.connect(self._on_status_changed)
        worker.warning_raised.connect(self._on_warning_raised)
        worker.attention_ready.connect(self._on_attention_ready)
        worker.weights_ready.connect(self._on_weights_ready)
        worker.failed.connect(self._on_training_failed)
        worker.finished.connect(self._on_training_finished)
        self.run_dir = run_dir
        self._train = start_worker(worker, "trainer")
        self._set_state(PREPARING)
        return True

    def pause(self) -> None:
        """Pause before the next step (the worker keeps serving save/weights requests)."""
        if self._train is not None and self.state == TRAINING:
            self._train.worker.pause()
            self._set_state(PAUSED)

    def resume(self) -> None:
        if self._train is not None and self.state == PAUSED:
            self._train.worker.resume()
            self._set_state(TRAINING)

    def stop(self, save: bool = True) -> None:
        """Ask the worker to stop after the current step. With `save` (the default) the engine
        writes a final checkpoint, so the run can be resumed from where it stopped."""
        if self._train is not None and self.state != STOPPING:
            self._train.worker.request_stop(save=save)
            self._set_state(STOPPING)

    def save_checkpoint(self) -> bool:
        """Ask the worker to save a checkpoint at the next step; False when not training."""
        if self._train is None:
            return False
        self._train.worker.request_checkpoint()
        return True

    def set_learning_rate(self, lr: float) -> None:
        if self._train is not None:
            self._train.worker.control.set_learning_rate(lr)

    def request_weights(self) -> bool:
        """Ask for a numpy copy of the weights (`weights_ready`); False when not training."""
        if self._train is None:
            return False
        self._train.worker.request_weights()
        return True

    def wait_for_training(self, timeout_ms: int = 60_000) -> bool:
        """Block until the training thread has ended (for scripts and benchmarks)."""
        if self._train is None:
            return True
        return self._train.thread.wait(timeout_ms)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.training_state_changed.emit(state)

    def _new_run_dir(self, model_config: Any) -> Path:
        from datetime import datetime

        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        corpus = (self.corpus.name if self.corpus else "corpus").replace("/", "-")[:24]
        base = f"{stamp}-{model_config.arch}-{corpus}"
        path = self.runs_root / base
        n = 2
        while path.exists():  # two starts within one second
            path = self.runs_root / f"{base}-{n}"
            n += 1
        return path

    @Slot(object)
    def _on_run_started(self, info: Any) -> None:
        if self._is_current(self._train):
            self.opened_run = None  # it is running now; its curves come live
            self._set_state(TRAINING if not self._train.worker.control.paused else PAUSED)
            self.run_started.emit(info)

    @Slot(object)
    def _on_step_finished(self, event: Any) -> None:
        if self._is_current(self._train):
            self.step_finished.emit(event)

    @Slot(object)
    def _on_eval_finished(self, event: Any) -> None:
        if self._is_current(self._train):
            self.eval_finished.emit(event)

    @Slot(object)
    def _on_sample_ready(self, event: Any) -> None:
        if self._is_current(self._train):
            self.sample_ready.emit(event)

    @Slot(object)
    def _on_checkpoint_saved(self, event: Any) -> None:
        if self._is_current(self._train):
            self.checkpoint_saved.emit(event)

    @Slot(str)
    def _on_status_changed(self, message: str) -> None:
        if self._is_current(self._train):
            self.status_changed.emit(message)

    @Slot(str)
    def _on_warning_raised(self, message: str) -> None:
        if self._is_current(self._train):
            self.warning_raised.emit(message)

    @Slot(object)
    def _on_attention_ready(self, snapshot: Any) -> None:
        if self._is_current(self._train):
            self.attention_ready.emit(snapshot)

    @Slot(object)
    def _on_weights_ready(self, snapshot: WeightsSnapshot) -> None:
        if self._is_current(self._train):
            self.latest_weights = snapshot
            self.weights_ready.emit(snapshot)

    @Slot(str)
    def _on_training_failed(self, message: str) -> None:
        if self._is_current(self._train):
            self._report("Training stopped", message, None)

    @Slot()
    def _on_training_finished(self) -> None:
        if self._is_current(self._train):
            handle = self._train
            self._train = None
            handle.thread.wait(5_000)  # run() has returned: the thread ends right away
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
        self._retire("_tokenizer_task")
        self.tokenizer_choice = TokenizerChoice("run")
        self._set_tokenizer(opened.tokenizer)
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
        handles = [h for h in (self._train, self._corpus_task, self._tokenizer_task,
                               self._tiktoken_task) if h]
        self._train = self._corpus_task = self._tokenizer_task = self._tiktoken_task = None
        ok = True
        for handle in handles + self._retired:
            ok = handle.stop(timeout_ms) and ok
        self._retired = [h for h in self._retired if h.is_running()]
        if self.state != IDLE:
            self._set_state(IDLE)
        return ok

    def _retire(self, attr: str) -> None:
        """Ask a task to stop without waiting for it; its late results are ignored."""
        handle: WorkerHandle | None = getattr(self, attr)
        setattr(self, attr, None)
        self._retired = [h for h in self._retired if h.is_running()]
        if handle is not None:
            handle.worker.request_stop()
            handle.thread.quit()
            self._retired.append(handle)

    def _is_current(self, handle: WorkerHandle | None) -> bool:
        """True when the signal being handled comes from `handle`'s worker (not a retired one)."""
        return handle is not None and self.sender() is handle.worker

    def _report(self, title: str, message: str, signal: Any) -> None:
        log.info("%s: %s", title, message)
        if signal is not None:
            signal.emit(message)
        self.error_raised.emit(title, message)
