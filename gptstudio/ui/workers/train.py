"""The training worker: runs the engine's `Trainer` on a QThread and passes on its events.

Everything heavy happens here, off the GUI thread: tokenizing the corpus, building the model,
creating or re-opening the run folder (and loading its last checkpoint to resume), and the loop
itself. While the corpus is tokenized (minutes for a big one), the token cache's
`TokenizeProgress` (and a re-read corpus's `ReadProgress`) come out through `event_reported`
too, in order, before `RunStarted`; `preparing_text(event)` says them in words for the
status bar and the Train tab. Each engine event — steps, evaluations, samples, checkpoints,
status, and the attention maps and weight snapshots asked for through the `TrainControl` — is
emitted unchanged through the one signal `event_reported` (they are frozen dataclasses of
plain data). The model belongs to this thread alone; pausing, requests and the learning rate
all go through the engine's thread-safe `TrainControl`, which the Trainer serves between steps
and while paused.
Left out: what the GUI does with the events (the training service and the tabs).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Signal

from gptstudio.core.attention import AttentionRecorder
from gptstudio.core.corpora import Corpus, ReadProgress
from gptstudio.core.data import TokenizeProgress
from gptstudio.core.errors import Cancelled
from gptstudio.core.model import GPTConfig, LSTMConfig
from gptstudio.core.pipeline import PreparedTraining, prepare_new_training, \
    prepare_resumed_training
from gptstudio.core.tokenizers import Tokenizer
from gptstudio.core.train import TrainConfig, TrainControl, WarningEvent
from gptstudio.ui.workers.base import Worker


@dataclass(frozen=True)
class TrainJob:
    """Everything the worker needs, decided in the GUI thread before it starts.

    `resume`: continue `run_dir` from its last checkpoint. `init_from`: a new run starting from
    the weights of that run's last checkpoint (an imported GPT-2). `restart`: `run_dir` holds a
    run that never reached a checkpoint; train it again from step 0 in the same folder.
    """

    corpus: Corpus
    corpus_spec: str
    tokenizer: Tokenizer
    model_config: GPTConfig | LSTMConfig
    train_config: TrainConfig
    run_dir: Path
    resume: bool = False
    init_from: Path | None = None
    restart: bool = False
    record_attention: str = ""  # a probe prompt whose attention is recorded into the run folder
    record_every: int | None = None  # steps between records; None: auto (see core.attention)


@dataclass(frozen=True)
class RunStarted:
    """The run folder is ready and the first step is about to run."""

    path: Path
    name: str
    max_steps: int
    start_step: int
    n_params: int
    resumed: bool
    n_train_tokens: int
    n_val_tokens: int
    peak_lr: float  # the schedule's peak in use (a resumed run keeps a peak changed mid-run)
    model_config: GPTConfig | LSTMConfig
    tokenizer: Tokenizer
    task: str | None = None  # a fine-tune's ("classification" | "instructions"), else None
    device: str = ""  # the device it really trains on, e.g. "CUDA 0: NVIDIA H100" (device.py)
    torch_device: str = "cpu"  # ... as torch names it ("cuda:0"): the live weights are read there


def preparing_text(event: object) -> str | None:
    """A sentence for a preparation progress event ("Tokenizing the corpus (12.0 MB): 40% ·
    1,234,567 tokens"), or None for any other event."""
    fraction = preparing_fraction(event)
    done = f": {fraction:.0%}" if fraction is not None else "…"
    if isinstance(event, TokenizeProgress):
        if event.cached:
            return f"The corpus's {event.n_tokens:,} tokens come from the token cache."
        size = f" ({_mb(event.total_bytes)})" if event.total_bytes else ""
        return f"Tokenizing the corpus{size}{done} · {event.n_tokens:,} tokens"
    if isinstance(event, ReadProgress):
        return f"Checking the corpus ({_mb(event.total_bytes)}){done}"
    return None


def preparing_fraction(event: object) -> float | None:
    """How far a preparation progress event says the work is (0..1); None if it does not say."""
    if isinstance(event, TokenizeProgress):
        if event.cached:
            return 1.0
        done, total = (event.done_bytes, event.total_bytes) if event.total_bytes else \
            (event.done_chars, event.total_chars)
    elif isinstance(event, ReadProgress):
        done, total = event.done_bytes, event.total_bytes
    else:
        return None
    return min(1.0, done / total) if total > 0 else None


def _mb(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:,.1f} MB"


class TrainWorker(Worker):
    """Runs one training job: progress events while it prepares, `event(RunStarted)` once the
    run is ready, then `event(TrainEvent)` for each engine event."""

    event_reported = Signal(object)  # TokenizeProgress..., RunStarted, then TrainEvents

    def __init__(self, job: TrainJob, control: TrainControl) -> None:
        super().__init__()
        self.job = job
        self.control = control
        self._discard = threading.Event()  # stop without the final checkpoint

    def request_stop(self, save: bool = True) -> None:
        """Stop after the current step (thread-safe); save=False skips the final checkpoint.

        A discard sticks: the plain `request_stop()` of a later shutdown must not turn it back
        into a save (the engine lets the latest `stop(save=...)` win)."""
        self.cancel_event.set()  # stops tokenization, if that is where we are
        if not save:
            self._discard.set()
        self.control.stop(save=not self._discard.is_set())

    def work(self) -> None:
        prepared = self._prepare()
        if self.cancel_event.is_set():
            raise Cancelled("Training was stopped before it began.")
        spec = getattr(prepared, "spec", None)  # a fine-tune's (PreparedFinetune)
        self.event_reported.emit(RunStarted(
            path=prepared.run.path, name=prepared.run.path.name,
            max_steps=prepared.trainer.config.max_steps, start_step=prepared.start_step,
            n_params=prepared.n_params, resumed=self.job.resume,
            n_train_tokens=prepared.n_train_tokens, n_val_tokens=prepared.n_val_tokens,
            peak_lr=prepared.trainer.peak_lr, model_config=prepared.model.config,
            tokenizer=prepared.tokenizer, task=spec.task if spec is not None else None,
            device=prepared.trainer.policy.label, torch_device=str(prepared.trainer.device)))
        note = prepared.run.checkpoint_note if prepared.run is not None else ""
        if note:  # a damaged newest checkpoint was passed over: the status bar says so
            self.event_reported.emit(WarningEvent(prepared.start_step, note))
        # The trainer ends by itself on a stop (with or without its final checkpoint, as the
        # control says), so its last "stopped" status reaches the run's log too.
        for event in prepared.trainer.events():
            self.event_reported.emit(event)

    def _prepare(self) -> PreparedTraining:
        """The engine's shared set-up (the CLI uses the same), here off the GUI thread."""
        job = self.job
        progress = self.event_reported.emit  # TokenizeProgress (ReadProgress), in order
        if job.resume:
            return prepare_resumed_training(job.run_dir, train_config=job.train_config,
                                            corpus=job.corpus, control=self.control,
                                            progress=progress, cancel=self.cancel_event,
                                            hooks=self._hooks())
        return prepare_new_training(job.run_dir, job.corpus, job.tokenizer, job.model_config,
                                    job.train_config, corpus_spec=job.corpus_spec,
                                    init_from=job.init_from, restart=job.restart,
                                    control=self.control, progress=progress,
                                    cancel=self.cancel_event, hooks=self._hooks())

    def _hooks(self) -> tuple[AttentionRecorder, ...]:
        """The job's attention recorder: its records (`AttentionRecorded`) and its one warning
        if the probe cannot be recorded come out through `event_reported`, like engine events."""
        job = self.job
        if not job.record_attention or not isinstance(job.model_config, GPTConfig):
            return ()
        return (AttentionRecorder(job.run_dir, job.record_attention, job.record_every,
                                  report=self.event_reported.emit),)
