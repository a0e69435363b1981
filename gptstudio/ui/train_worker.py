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
from gptstudio.core.train.control import TrainControl
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
        from gptstudio.core.model import build_model

        model = build_model(self.model_config)
        model.load_state_dict({k: torch.from_numpy(v) for k, v in self.state.items()},
                              strict=False)  # tied weights appear under one name or two
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
        self._model: torch.nn.Module | None = None

    # -- requests from the GUI thread (thread-safe) --------------------------------------------
    def request_stop(self) -> None:
        self.cancel_event.set()  # stops tokenization, if that is where we are
        self.control.stop()  # the trainer saves a checkpoint and finishes

    def request_weights(self) -> None:
        self._weights_requested.set()

    def request_checkpoint(self) -> None:
        self._checkpoint_requested.set()
        request = getattr(self.control, "request_checkpoint", None)
        if request is not None:
            request()

    # -- the work, in the worker thread ---------------------------------------------------------
    def work(self) -> None:
        from gptstudio.core.data import split_tokens, tokenize_corpus
        from gptstudio.core.errors import Cancelled
        from gptstudio.core.model import build_model, estimate
        from gptstudio.core.train import Run, Trainer, load_checkpoint
        from gptstudio.core.train.events import (
            CheckpointEvent, EvalEvent, SampleEvent, StatusEvent, StepEvent, WarningEvent,
        )

        job, cfg = self.job, self.job.train_config
        self.status_changed.emit(f"Tokenizing {job.corpus.name}…")
        tokens = tokenize_corpus(job.corpus, job.tokenizer, cancel=self.cancel_event)
        if self.cancel_event.is_set():
            raise Cancelled("Training was stopped before it began.")
        train_tokens, val_tokens = split_tokens(tokens, cfg.val_fraction)
        model = build_model(job.model_config)
        self._model = model
        start_state = None
        if job.resume:
            run = Run.open(job.run_dir)
            loaded = load_checkpoint(run.path, model, tokenizer=job.tokenizer)
            start_state = loaded.train_state
            if run.train_config != cfg:
                run.save_train_config(cfg)  # e.g. more steps than the first time
            start_step = loaded.step
        else:
            data_config = {"corpus": job.corpus_spec, "corpus_name": job.corpus.name,
                           "corpus_fingerprint": job.corpus.fingerprint(),
                           "n_bytes": job.corpus.n_bytes, "n_tokens": int(len(tokens)),
                           "val_fraction": cfg.val_fraction}
            run = Run.create(job.run_dir, job.model_config, cfg, data_config, job.tokenizer)
            start_step = 0
        self.run_started.emit(RunStarted(
            path=run.path, name=run.path.name, max_steps=cfg.max_steps, start_step=start_step,
            n_params=estimate(job.model_config).n_params, resumed=job.resume,
            n_train_tokens=int(len(train_tokens)), n_val_tokens=int(len(val_tokens))))

        trainer = Trainer(model, job.tokenizer, train_tokens, val_tokens, cfg, run=run,
                          control=self.control, start_state=start_state)
        for event in trainer.events():
            if isinstance(event, StepEvent):
                self.step_finished.emit(event)
                self._between_steps(event.step)
            elif isinstance(event, EvalEvent):
                self.eval_finished.emit(event)
            elif isinstance(event, SampleEvent):
                self.sample_ready.emit(event)
            elif isinstance(event, CheckpointEvent):
                self.checkpoint_saved.emit(event)
            elif isinstance(event, StatusEvent):
                if event.message:
                    self.status_changed.emit(event.message)
            elif isinstance(event, WarningEvent):
                self.warning_raised.emit(event.message)

    def _between_steps(self, step: int) -> None:
        """The trainer is suspended at a yield: the model may be read (never changed) here."""
        job = self.job
        if self._weights_requested.is_set() or (
                job.weights_interval and step % job.weights_interval == 0):
            self._weights_requested.clear()
            self.weights_ready.emit(self._copy_weights(step))
        if job.attention_interval and step % job.attention_interval == 0 and job.attention_prompt:
            snapshot = self._attention(step)
            if snapshot is not None:
                self.attention_ready.emit(snapshot)

    def _copy_weights(self, step: int) -> WeightsSnapshot:
        assert self._model is not None
        # .numpy() of a detached clone: the copy never aliases the training tensors.
        state = {k: v.detach().to("cpu", copy=True).float().numpy()
                 for k, v in self._model.state_dict().items()}
        return WeightsSnapshot(step, self.job.model_config, state)

    def _attention(self, step: int) -> AttentionSnapshot | None:
        model, tok = self._model, self.job.tokenizer
        if model is None or getattr(self.job.model_config, "arch", "") != "gpt":
            return None
        ids = tok.encode(self.job.attention_prompt, allowed_special="all")
        ids = ids[-self.job.model_config.block_size:]
        if not ids:
            return None
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                out = model(torch.tensor([ids]), return_attn=True)
        finally:
            model.train(was_training)
        weights = tuple(a[0].detach().float().cpu().numpy().copy() for a in out.attentions)
        return AttentionSnapshot(step, tuple(tok.token_str(i) for i in ids), weights)
