"""The fine-tuning worker: `pipeline.prepare_finetune` and the one Trainer, on a QThread.

A fine-tune is a training like any other once prepared, so the worker is the training worker
(`TrainWorker`: `RunStarted`, then every engine event unchanged on `event_reported`, steered by
the same `TrainControl`) with another preparation: reading and splitting the data file with the
base run's tokenizer, building the base's model with its head, adapters and frozen blocks, and
creating the run folder, all off the GUI thread. Left out: what the tabs show (the Fine-tune
tab), which run is current (the training and runs services).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gptstudio.core.finetune import FinetuneSpec
from gptstudio.core.pipeline import PreparedTraining, prepare_finetune
from gptstudio.core.train import TrainConfig
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


class FinetuneWorker(TrainWorker):
    """A `TrainWorker` whose run is prepared by `prepare_finetune`."""

    def _prepare(self) -> PreparedTraining:
        job = self.job
        assert isinstance(job, FinetuneJob)
        return prepare_finetune(job.run_dir, job.base_run, job.spec, job.train_config,
                                epochs=job.epochs, control=self.control,
                                cancel=self.cancel_event)
