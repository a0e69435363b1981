"""`InferenceService`: the one readable model for the tabs that look inside it or generate.

While a run trains, the model belongs to the training thread; what other tabs read is a weight
snapshot the Trainer takes between steps (`WeightsEvent`), copied to numpy, never the training
tensors. Otherwise the model is a checkpoint: by default the latest one of the current run, or
one the user chose (`choose`). Work on the model (`submit(job)`, e.g. attention maps for a
prompt) runs in this service's own worker; a new request retires the previous one, so a tab
that re-asks on every keystroke only ever gets the newest answer.

Models are read on a device (`device(source)`): the live run's own (a snapshot of a run on a
GPU is put back on that GPU), else the one Setup's device field names (the plan's, else the
opened run's), or the CPU where this machine lacks it (`inference_device`; `device_note` says
why). Attention maps reach subscribers through `attention_ready`, whether they came from the
live run (`TrainingService.request_attention` / `watch_attention`) or from a checkpoint. Work
that reports as it goes (generating text) runs in a second worker, `streams`
(`inference_stream.py`), so a quick request never retires a generation, nor a generation a
quick request.
Left out: widgets, and the engine work itself (`gptstudio.core.inspect`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PySide6.QtCore import QObject, Signal, Slot
from torch import nn

from gptstudio.core.errors import CheckpointError
from gptstudio.core.model import build_model
from gptstudio.core.inspect import AttentionMaps, WeightsSnapshot, attention_maps
from gptstudio.core.pipeline import load_trained_model
from gptstudio.core.tokenizers import Tokenizer
from gptstudio.core.train import Run, list_checkpoints, load_checkpoint
from gptstudio.core.train.device import inference_device
from gptstudio.core.train.events import AttentionEvent, WeightsEvent
from gptstudio.ui.services.inference_stream import InferenceStreams
from gptstudio.ui.services.runs import RunsService
from gptstudio.ui.services.training import TrainingService
from gptstudio.ui.workers import TaskWorker, WorkerPlace

Job = Callable[[nn.Module, Tokenizer], object]


@dataclass(frozen=True)
class ModelSource:
    """Where the readable model comes from: the live run's weights or a checkpoint folder."""

    kind: str  # "live" | "checkpoint"
    label: str
    step: int
    path: Path | None = None  # the checkpoint folder
    run_dir: Path | None = None  # the run it belongs to


class InferenceService(QObject):
    """See the module docstring. `result_ready(request, result)` answers `submit`."""

    sources_changed = Signal()
    weights_ready = Signal(object)  # WeightsSnapshot of the live run
    attention_ready = Signal(object)  # AttentionMaps
    result_ready = Signal(int, object)
    failed = Signal(int, str)
    status_message = Signal(str)  # e.g. why models are read on the CPU (once per reason)

    def __init__(self, training: TrainingService, runs: RunsService,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.training, self.runs = training, runs
        self.latest_weights: WeightsSnapshot | None = None
        self.chosen: ModelSource | None = None  # None: live while training, else the latest
        self.device_note = ""  # why models are read on the CPU instead of the device asked for
        self._request = 0
        self._running: tuple[int, Job] | None = None
        self._waiting: list[tuple[int, Job]] = []  # live jobs waiting for a first snapshot
        self._cache: dict[tuple, tuple[nn.Module, Tokenizer]] = {}
        self._cache_lock = threading.Lock()
        self._place = WorkerPlace("inference", self)
        self.streams = InferenceStreams(self)  # generation: its own worker (see above)
        self._place.succeeded.connect(self._on_succeeded)
        self._place.failed.connect(self._on_failed)
        training.event_reported.connect(self._on_training_event)
        training.state_changed.connect(self._on_sources_changed)
        runs.run_opened.connect(self._on_sources_changed)
        runs.run_closed.connect(self._on_sources_changed)

    # -- which model ---------------------------------------------------------------------------
    def sources(self) -> list[ModelSource]:
        """The live run (while training), then the current run's checkpoints, newest first."""
        out = []
        if self.training.state.is_running:
            step = self.latest_weights.step if self.latest_weights is not None else 0
            out.append(ModelSource("live", "Live weights (the run training now)", step))
        run_dir = self.runs.current_dir
        if run_dir is not None and Run.exists(run_dir):
            run = Run.open(run_dir)
            infos = list(reversed(list_checkpoints(run.checkpoints_dir)))
            finetune = bool(run.data_config.get("task"))
            if finetune:
                # A fine-tune is read through the pipeline's loader, which takes its latest
                # checkpoint (LoRA merged, no head): list that one only.
                infos = infos[:1]
            label = "Fine-tuned, step" if finetune else "Checkpoint at step"
            for info in infos:
                out.append(ModelSource("checkpoint", f"{label} {info.step:,}", info.step,
                                       Path(info.path), Path(run_dir)))
        return out

    def source(self) -> ModelSource | None:
        """The model `submit` runs on now."""
        sources = self.sources()
        if self.chosen is not None and self.chosen in sources:
            return self.chosen
        return sources[0] if sources else None

    def choose(self, source: ModelSource | None) -> None:
        self.chosen = source
        self.sources_changed.emit()

    def device(self, source: ModelSource | None = None) -> torch.device:
        """Where `source`'s model (default: `source()`'s) is read (see the module docstring)."""
        source = source if source is not None else self.source()
        run = self.training.current_run
        if source is not None and source.kind == "live" and run is not None:
            return torch.device(run.torch_device)
        plan, opened = self.training.plan.train_config, self.runs.opened
        if plan is not None:
            spec = plan.device
        elif opened is not None and opened.train_config is not None:
            spec = opened.train_config.device
        else:
            spec = "auto"
        device, note = inference_device(spec)
        if note and note != self.device_note:
            self.status_message.emit(note)
        self.device_note = note
        return device

    # -- work on the model ---------------------------------------------------------------------
    def submit(self, job: Job) -> int:
        """Run `job(model, tokenizer)` in the background on `source()`; returns the request id
        that `result_ready` / `failed` carry. A newer request retires this one."""
        self._request += 1
        request, source = self._request, self.source()
        self._waiting.clear()
        if source is None:
            self.failed.emit(request, "There is no model yet: train one, or open a run.")
        elif source.kind == "live" and self.latest_weights is None:
            self._waiting.append((request, job))  # run it when the first snapshot comes
            self.training.request_weights()
        else:
            self._launch(request, job, source)
        return request

    def request_attention(self, prompt: str) -> int:
        """Attention maps of `prompt` on the current model, delivered by `attention_ready`."""
        return self.submit(lambda model, tokenizer: attention_maps(model, tokenizer, prompt))

    def _launch(self, request: int, job: Job, source: ModelSource) -> None:
        snapshot = self.latest_weights if source.kind == "live" else None
        tokenizer = self.training.current_run.tokenizer \
            if source.kind == "live" and self.training.current_run else None
        device = self.device(source)
        self._running = (request, job)
        self._place.start(TaskWorker(
            lambda _p, _c: job(*self._model(source, snapshot, tokenizer, device))))

    def _model(self, source: ModelSource, snapshot: WeightsSnapshot | None,
               tokenizer: Tokenizer | None,
               device: torch.device | None = None) -> tuple[nn.Module, Tokenizer]:
        """In the worker thread: build (or reuse) the model `source` names, on `device`
        (default: the CPU). Weights load on the CPU first, then move (checkpoint_load.py)."""
        device = device if device is not None else torch.device("cpu")
        key = (source.kind, source.step, source.path, str(device))
        with self._cache_lock:
            if key in self._cache:
                return self._cache[key]
        if snapshot is not None and tokenizer is not None:
            model = snapshot.to_model()
        elif source.path is not None and source.run_dir is not None:
            run = Run.open(source.run_dir)
            if run.data_config.get("task"):  # a fine-tune (see `sources`)
                _, model, tokenizer = load_trained_model(source.run_dir)
            else:
                tokenizer = run.load_tokenizer()
                model = build_model(run.model_config())
                load_checkpoint(source.path, model, tokenizer=tokenizer)
                model.eval()
        else:
            raise CheckpointError("The model is not ready yet; try again in a moment.")
        model.to(device)
        with self._cache_lock:
            self._cache = {key: (model, tokenizer)}  # keep one model: they can be large
        return model, tokenizer

    @Slot(object)
    def _on_succeeded(self, result: object) -> None:
        request = self._running[0] if self._running else 0
        self._running = None
        if isinstance(result, AttentionMaps):
            self.attention_ready.emit(result)
        self.result_ready.emit(request, result)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        request = self._running[0] if self._running else 0
        self._running = None
        self.failed.emit(request, message)

    # -- the live run --------------------------------------------------------------------------
    @Slot(object)
    def _on_training_event(self, event: object) -> None:
        if isinstance(event, WeightsEvent):
            self.latest_weights = event.snapshot
            self.weights_ready.emit(event.snapshot)
            waiting, self._waiting = self._waiting, []
            source = self.source()
            for request, job in waiting[-1:]:
                if source is not None:
                    self._launch(request, job, source)
        elif isinstance(event, AttentionEvent):
            self.attention_ready.emit(event.maps)

    @Slot()
    def _on_sources_changed(self, *_: object) -> None:
        if not self.training.state.is_running:
            self.latest_weights = None  # the next run's weights are other ones
        self.sources_changed.emit()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        return all([self._place.shutdown(timeout_ms), self.streams.shutdown(timeout_ms)])
