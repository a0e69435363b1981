"""The fine-tuning worker: `pipeline.prepare_finetune` and the one Trainer, on a QThread.

A fine-tune is a training like any other once prepared, so the worker is the training worker
(`TrainWorker`: `RunStarted`, then every engine event unchanged on `event_reported`, steered by
the same `TrainControl`) with another preparation: reading and splitting the data file with the
base run's tokenizer, building the base's model with its head, adapters and frozen blocks, and
creating the run folder, all off the GUI thread. Start on a fine-tune that already has a folder
(`ContinuedFinetune`) resumes it from its last checkpoint with its own settings, exactly as a
headless `prepare_resumed_training` does, or, stopped before its first checkpoint, trains it
again from step 0 in the same folder. Left out: what the tabs show (the Fine-tune tab), which
run is current (the training and runs services).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gptstudio.core.errors import CheckpointError
from gptstudio.core.finetune import FinetuneSpec
from gptstudio.core.finetune.prepare import run_spec
from gptstudio.core.pipeline import PreparedTraining, prepare_finetune, prepare_resumed_training
from gptstudio.core.train import Run, TrainConfig
from gptstudio.ui.workers.train import TrainWorker


@dataclass(frozen=True)
class FinetuneJob:
    """A new fine-tune of `base_run` into `run_dir`, decided in the GUI thread.

    `epochs`: passes over the training split (sets the steps; None: `train_config.max_steps`).
    """

    base_run: Path
    spec: FinetuneSpec
    train_config: TrainConfig
    run_dir: Path
    epochs: float | None = None
    resume: bool = False  # always a new run here (what `TrainWorker` reports in RunStarted)


@dataclass(frozen=True)
class ContinuedFinetune:
    """Start on the fine-tune in `run_dir`: `resume` it from its last checkpoint, or (False: it
    never reached one) train it again from step 0 with the spec and settings it was made with."""

    run_dir: Path
    resume: bool


class FinetuneWorker(TrainWorker):
    """A `TrainWorker` whose run is prepared by `prepare_finetune` (or resumed)."""

    def _prepare(self) -> PreparedTraining:
        job = self.job
        if isinstance(job, ContinuedFinetune):
            return self._continue(job)
        assert isinstance(job, FinetuneJob)
        return prepare_finetune(job.run_dir, job.base_run, job.spec, job.train_config,
                                epochs=job.epochs, control=self.control,
                                cancel=self.cancel_event)

    def _continue(self, job: ContinuedFinetune) -> PreparedTraining:
        if job.resume:  # the run's own settings and data, as `gptstudio finetune --resume`
            return prepare_resumed_training(job.run_dir, control=self.control)
        run = Run.open(job.run_dir)
        base = (run.data_config.get("init_from") or {}).get("run")
        if not isinstance(base, str) or not base:
            raise CheckpointError(f"The fine-tune {run.path.name} does not say which base run "
                                  "it started from; start a new fine-tune instead.")
        return prepare_finetune(run.path, base, run_spec(run), run.train_config, restart=True,
                                control=self.control, cancel=self.cancel_event)
