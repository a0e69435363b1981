"""The training worker: runs the engine's `Trainer` on a QThread and reports its events.

Everything heavy happens here, off the GUI thread: tokenizing the corpus, building the model,
creating or re-opening the run folder (and loading its last checkpoint to resume), and the loop
itself. Each engine event is emitted unchanged through a signal (they are frozen dataclasses of
plain data). The model belongs to this thread alone; what other tabs need from it is produced
here, between two steps, and sent as numpy copies:
  * `attention_ready(AttentionSnapshot)` every `attention_interval` steps;
  * `weights_ready(WeightsSnapshot)` when requested, and every `weights_interval` steps.
Pause/resume/stop/learning rate go through the engine's thread-safe `TrainControl`.
Left out: what the GUI does with the events (Session, tabs).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PySide6.QtCore import Signal

from gptstudio.core.corpora import Corpus
from gptstudio.core.errors import Cancelled
from gptstudio.core.model import build_model
from gptstudio.core.pipeline import prepare_new_training, prepare_resumed_training
from gptstudio.core.train import (
    CheckpointEvent, EvalEvent, SampleEvent, StatusEvent, StepEvent, TrainControl, WarningEvent,
)
from gptstudio.ui.workers import Worker


@dataclass(frozen=True)
class TrainJob:
    """Everything the worker needs, decided in the GUI thread before it starts."""

    corpus: Corpus
    corpus_spec: str
    tokenizer: Any
    model_config: Any
    train_config: Any
    run_dir: Path
    resume: bool = False  # continue run_dir from its last checkpoint
    attention_interval: int = 0  # 0: no attention snapshots
    attention_prompt: str = ""
    weights_interval: int = 0  # 0: weights only on request


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


@dataclass(frozen=True)
class AttentionSnapshot:
    """Attention weights of every layer on a fixed prompt, at `step`.

    `weights[layer]` is a float32 array (n_head, T, T); `tokens` are the prompt's pieces."""

    step: int
    tokens: tuple[str, ...]
    weights: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class WeightsSnapshot:
    """A numpy copy of the model's state dict at `step`; build a model from it to generate."""

    step: int
    model_config: Any
    state: dict[str, np.ndarray]

    def to_model(self) -> torch.nn.Module:
        """A fresh model (CPU, eval mode) with these weights, independent of the training one."""
        model = build_model(self.model_config)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in self.state.items()})
        return model.eval()


class TrainWorker(Worker):
    """Runs one training job; see the module docstring for what it emits."""

    run_started = Signal(object)  # RunStarted
    step_finished = Signal(object)  # StepEvent
    eval_finished = Signal(object)  # EvalEvent
    sample_ready = Signal(object)  # SampleEvent
    checkpoint_saved = Signal(object)  # CheckpointEvent
    status_changed = Signal(str)
    warning_raised = Signal(str)
    attention_ready = Signal(object)  # AttentionSnapshot
    weights_ready = Signal(object)  # WeightsSnapshot

    def __init__(self, job: TrainJob) -> None:
        super().__init__()
        self.job = job
        self.control = TrainControl()
        self._weights_requested = threading.Event()
        self._checkpoint_requested = threading.Event()
        self._abandon = threading.Event()  # stop without the final checkpoint
        # Set by every request, so a paused worker wakes up to serve it.
        self._wake = threading.Event()
        self._trainer: Any = None
        self._run: Any = None

    # -- requests from the GUI thread (thread-safe) --------------------------------------------
    def request_stop(self, save: bool = True) -> None:
        """Stop after the current step; with save=False the final checkpoint is skipped."""
        self.cancel_event.set()  # stops tokenization, if that is where we are
        if not save:
            self._abandon.set()
        self.control.stop()  # the trainer saves a checkpoint and finishes
        self._wake.set()

    def pause(self) -> None:
        self.control.pause()

    def resume(self) -> None:
        self.control.resume()
        self._wake.set()

    def request_weights(self) -> None:
        self._weights_requested.set()
        self._wake.set()

    def request_checkpoint(self) -> None:
        self._checkpoint_requested.set()
        self._wake.set()

    # -- the work, in the worker thread ---------------------------------------------------------
    def work(self) -> None:
        # Tokenizing, building the model, the run folder and the checkpoint: the engine's
        # shared set-up (the CLI uses the same), here off the GUI thread.
        job = self.job
        self.status_changed.emit(f"Tokenizing {job.corpus.name}…")
        common = dict(control=self.control, hooks=(self._hook,), cancel=self.cancel_event)
        if job.resume:
            prepared = prepare_resumed_training(job.run_dir, train_config=job.train_config,
                                                corpus=job.corpus, **common)
        else:
            prepared = prepare_new_training(job.run_dir, job.corpus, job.tokenizer,
                                            job.model_config, job.train_config,
                                            corpus_spec=job.corpus_spec, **common)
        if self.cancel_event.is_set():
            raise Cancelled("Training was stopped before it began.")
        self._trainer, self._run = prepared.trainer, prepared.run
        self.run_started.emit(RunStarted(
            path=prepared.run.path, name=prepared.run.path.name,
            max_steps=prepared.trainer.config.max_steps, start_step=prepared.start_step,
            n_params=prepared.n_params, resumed=job.resume,
            n_train_tokens=prepared.n_train_tokens, n_val_tokens=prepared.n_val_tokens,
            peak_lr=prepared.trainer.peak_lr))
        self._loop(prepared.trainer.events())

    def _loop(self, events: Any) -> None:
        try:
            for event in events:
                if isinstance(event, StepEvent):
                    self.step_finished.emit(event)
                    self._serve_requests()
                elif isinstance(event, EvalEvent):
                    self.eval_finished.emit(event)
                elif isinstance(event, SampleEvent):
                    self.sample_ready.emit(event)
                elif isinstance(event, CheckpointEvent):
                    self.checkpoint_saved.emit(event)
                elif isinstance(event, WarningEvent):
                    self.warning_raised.emit(event.message)
                elif isinstance(event, StatusEvent):
                    if event.message and event.state != "failed":  # failures come as exceptions
                        self.status_changed.emit(event.message)
                    if event.state == "paused":
                        self._wait_while_paused()
                if self._abandon.is_set():
                    break  # leaving the generator unfinished skips its final checkpoint
        finally:
            events.close()

    def _wait_while_paused(self) -> None:
        """The trainer yielded "paused" and waits for our next `next()`: serve requests (save,
        weights) meanwhile, and only go on once resumed or stopped."""
        while self.control.paused and not self._abandon.is_set():
            self._wake.wait()
            self._wake.clear()
            if self.job.train_config.grad_accum == 1:  # paused between steps, not inside one
                self._serve_requests()

    def _serve_requests(self) -> None:
        """Between two steps: the model and training state are consistent and ours to read."""
        if self._checkpoint_requested.is_set():
            self._checkpoint_requested.clear()
            self._save_checkpoint_now()
        if self._weights_requested.is_set():
            self._weights_requested.clear()
            self.weights_ready.emit(self._copy_weights(self._trainer.model, self._trainer.step))

    def _save_checkpoint_now(self) -> None:
        # The engine saves on its own schedule; "Save checkpoint" adds one at this step.
        self.checkpoint_saved.emit(self._trainer.save_checkpoint())

    def _hook(self, model: torch.nn.Module, step: int) -> None:
        """Called by the Trainer after every step, in this thread, without gradients."""
        job = self.job
        if job.weights_interval and step % job.weights_interval == 0:
            self.weights_ready.emit(self._copy_weights(model, step))
        if job.attention_interval and step % job.attention_interval == 0 and job.attention_prompt:
            snapshot = self._attention(model, step)
            if snapshot is not None:
                self.attention_ready.emit(snapshot)

    def _copy_weights(self, model: torch.nn.Module, step: int) -> WeightsSnapshot:
        # A copy to float32 numpy: nothing in it aliases the training tensors.
        state = {k: v.detach().to("cpu", dtype=torch.float32, copy=True).numpy()
                 for k, v in model.state_dict().items()}
        return WeightsSnapshot(step, self.job.model_config, state)

    def _attention(self, model: torch.nn.Module, step: int) -> AttentionSnapshot | None:
        tok, config = self.job.tokenizer, self.job.model_config
        if getattr(config, "arch", "") != "gpt":
            return None  # the LSTM has no attention
        ids = tok.encode(self.job.attention_prompt, allowed_special="all")[-config.block_size:]
        if not ids:
            return None
        model.eval()  # no dropout on the weights we show; the Trainer sets train() again
        out = model(torch.tensor([ids]), return_attn=True)
        weights = tuple(a[0].detach().to(torch.float32).cpu().numpy().copy()
                        for a in out.attentions)
        return AttentionSnapshot(step, tuple(tok.token_str(i) for i in ids), weights)
