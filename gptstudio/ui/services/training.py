"""`TrainingService`: the training worker's lifecycle, its state, and the one event signal.

The Setup tab describes the next run as a `TrainingPlan` (`set_plan`); Start (`start()`) turns
the plan, the data service's corpus and tokenizer and the runs service's current run into a
`TrainJob` for a `TrainWorker`: resume an opened run, train a never-checkpointed run again from
step 0, begin a new run from imported weights, or start a new run. Every engine event then
arrives through `event_reported` unchanged and in order (steps, evaluations, samples,
checkpoints, status, attention maps, weight snapshots), so a tab subscribes to one signal, at
any time.

Pause, stop, "save a checkpoint now", a new peak learning rate and snapshot requests go to the
engine's `TrainControl`; the Trainer serves them between steps and while paused. Standing
requests (`watch_attention`, `watch_weights`), made before Start or mid-run, go to every new
run's control. `start_finetune` starts a fine-tune; Start continues an opened one. Left out: UI.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from gptstudio.core.model import GPTConfig, LSTMConfig
from gptstudio.core.train import StatusEvent, TrainConfig, TrainControl, TrainEvent, WarningEvent
from gptstudio.ui.services.data import DataService
from gptstudio.ui.services.runs import RunsService
from gptstudio.ui.services.state import IDLE, PAUSED, PREPARING, STOPPING, TRAINING, \
    TrainingState
from gptstudio.ui.workers import WorkerPlace
from gptstudio.ui.workers.finetune import ContinuedFinetune, FinetuneJob, FinetuneWorker
from gptstudio.ui.workers.train import RunStarted, TrainJob, TrainWorker


@dataclass(frozen=True)
class TrainingPlan:
    """The next run as the Setup tab describes it; `problems` say why Start must wait."""

    model_config: GPTConfig | LSTMConfig | None = None
    train_config: TrainConfig | None = None
    problems: tuple[str, ...] = ("The set-up is not ready yet.",)
    n_params: int | None = None

    @property
    def ready(self) -> bool:
        return not self.problems and self.model_config is not None \
            and self.train_config is not None


@dataclass
class _Watches:
    attention_prompt: str = ""
    attention_every: int = 0
    weights_every: int = 0
    record_prompt: str = ""  # recorded into the run folder (core.attention.AttentionRecorder)
    record_every: int | None = None


class TrainingService(QObject):
    """One training at a time; see the module docstring."""

    state_changed = Signal(object)  # TrainingState
    plan_changed = Signal(object)  # TrainingPlan
    run_started = Signal(object)  # RunStarted
    event_reported = Signal(object)  # every TrainEvent of the current run
    status_message = Signal(str)  # a sentence for the status bar
    error_raised = Signal(str, str)

    def __init__(self, data: DataService, runs: RunsService,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data, self.runs = data, runs
        self.state: TrainingState = IDLE
        self.plan = TrainingPlan()
        self.current_run: RunStarted | None = None
        self._control: TrainControl | None = None
        self._watches = _Watches()
        self._place = WorkerPlace("trainer", self)
        self._place.event_reported.connect(self._on_event)
        self._place.succeeded.connect(self._on_succeeded)
        self._place.cancelled.connect(self._on_ended)
        self._place.failed.connect(self._on_failed)

    # -- the plan and Start --------------------------------------------------------------------
    def set_plan(self, plan: TrainingPlan) -> None:
        self.plan = plan
        self.plan_changed.emit(plan)

    def start(self) -> bool:
        """Start the run the plan, data and current run describe; False (and why) if refused."""
        if self.state.is_running or self._place.closed:
            return False
        data, opened, plan = self.data, self.runs.opened, self.plan
        if opened is not None and opened.task is not None:  # with its own data and settings
            return self.start_finetune(ContinuedFinetune(opened.path, opened.can_resume))
        if not plan.ready or data.corpus is None or data.tokenizer is None:
            reasons = " ".join(plan.problems) or "Choose a corpus and a tokenizer first."
            self.error_raised.emit("Cannot start training", reasons)
            return False
        assert plan.model_config is not None and plan.train_config is not None
        resume = opened is not None and opened.can_resume
        restart = opened is not None and opened.needs_restart
        init_from = opened.path if opened is not None and opened.starts_from_weights else None
        run_dir = opened.path if resume or restart else self.runs.new_run_dir(
            plan.model_config.arch)
        model_config = opened.model_config if init_from is not None else plan.model_config
        job = TrainJob(corpus=data.corpus, corpus_spec=data.corpus_spec or data.corpus.source,
                       tokenizer=data.tokenizer, model_config=model_config,
                       train_config=plan.train_config, run_dir=run_dir, resume=resume,
                       init_from=init_from, restart=restart,
                       record_attention=self._watches.record_prompt,
                       record_every=self._watches.record_every)
        self._launch(TrainWorker, job, run_dir)
        return True

    def start_finetune(self, job: FinetuneJob | ContinuedFinetune) -> bool:
        """Start a fine-tune (the Fine-tune tab's Start): the same states, control and events."""
        if self.state.is_running or self._place.closed:
            return False
        self._launch(FinetuneWorker, job, job.run_dir)
        return True

    def _launch(self, worker: type[TrainWorker], job: object, run_dir: Path) -> None:
        self._control = TrainControl()
        self._apply_watches(self._control)
        self._place.start(worker(job, self._control))
        self.runs.current_dir = run_dir
        self._set_state(PREPARING)

    # -- steering ------------------------------------------------------------------------------
    def pause(self) -> None:
        """Pause before the next step (the trainer still serves requests while paused)."""
        if self.state is TRAINING and self._control is not None:
            self._control.pause()
            self._set_state(PAUSED)

    def resume(self) -> None:
        if self.state is PAUSED and self._control is not None:
            self._control.resume()
            self._set_state(TRAINING)

    def toggle_pause(self) -> None:
        if self.state is PAUSED:
            self.resume()
        else:
            self.pause()

    def stop(self, save: bool = True) -> None:
        """Stop after the current step; with `save` (the default) the engine writes a final
        checkpoint, so the run can be resumed from where it stopped."""
        worker = self._place.worker
        if isinstance(worker, TrainWorker) and self.state is not STOPPING:
            worker.request_stop(save=save)
            self._set_state(STOPPING)

    def save_checkpoint(self) -> bool:
        """A checkpoint at the next step boundary (or now, while paused); False if idle."""
        if self._control is None or not self.state.allows("save_checkpoint"):
            return False
        self._control.request_checkpoint()
        return True

    def set_learning_rate(self, lr: float) -> None:
        """A new peak learning rate from the next step on (the engine checks the value)."""
        if self._control is not None and self.state.allows("set_learning_rate"):
            self._control.set_learning_rate(lr)

    # -- snapshots: one-shot requests and standing ones ----------------------------------------
    def request_weights(self) -> bool:
        """A `WeightsEvent` soon (between steps or while paused); False when not training."""
        if self._control is None or not self.state.is_running:
            return False
        self._control.request_weights()
        return True

    def request_attention(self, prompt: str) -> bool:
        """An `AttentionEvent` for `prompt` from the live model; False when not training."""
        if self._control is None or not self.state.is_running:
            return False
        self._control.request_attention(prompt)
        return True

    def watch_attention(self, prompt: str, every: int) -> None:
        """Attention maps of `prompt` every `every` steps, this run and the next (0 = off)."""
        self._watches.attention_prompt, self._watches.attention_every = prompt, every
        if self._control is not None:
            self._control.watch_attention(prompt, every)

    def watch_weights(self, every: int) -> None:
        """A weight snapshot every `every` steps, this run and the next (0 = off)."""
        self._watches.weights_every = every
        if self._control is not None:
            self._control.watch_weights(every)

    def record_attention(self, prompt: str, every: int | None = None) -> None:
        """Record `prompt`'s attention every `every` steps (None: auto) into the run folder of
        the next Start ("" = off); a run already training keeps what it started with."""
        self._watches.record_prompt, self._watches.record_every = prompt, every

    def _apply_watches(self, control: TrainControl) -> None:
        w = self._watches
        control.watch_attention(w.attention_prompt, w.attention_every)
        control.watch_weights(w.weights_every)

    # -- the worker's news ---------------------------------------------------------------------
    def _on_run_started(self, info: RunStarted) -> None:
        self.current_run = info
        self.runs.training_started(info.path)
        if self.state is PREPARING:
            paused = self._control is not None and self._control.paused
            self._set_state(PAUSED if paused else TRAINING)
        self.run_started.emit(info)

    @Slot(object)
    def _on_event(self, event: TrainEvent | RunStarted) -> None:
        if isinstance(event, RunStarted):
            self._on_run_started(event)
            return
        if isinstance(event, WarningEvent):
            self.status_message.emit(event.message)
        elif isinstance(event, StatusEvent) and event.message and event.state != "failed":
            self.status_message.emit(event.message)  # failures arrive as the worker's error
        self.event_reported.emit(event)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.error_raised.emit("Training stopped", message)
        self._on_ended()

    @Slot(object)
    def _on_succeeded(self, _result: object) -> None:
        self._on_ended()

    @Slot()
    def _on_ended(self) -> None:
        self._control = None
        self.runs.training_ended()
        self._set_state(IDLE)

    def _set_state(self, state: TrainingState) -> None:
        if state is not self.state:
            self.state = state
            self.state_changed.emit(state)

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Stop the worker and wait for its thread; True if it ended in time."""
        ok = self._place.shutdown(timeout_ms)
        self._control = None
        self._set_state(IDLE)
        return ok
