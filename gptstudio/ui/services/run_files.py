"""Reading run folders for the app: their curves, their configs, and what Start can do with them.

The engine writes and parses run folders (`Run`); this module turns what it reads into what the
app shows, and lists the runs in the runs folder. A run's curves are its logged events replayed
through `RunHistory.add_event`, the same mapping the Train tab uses live.
Left out: writing runs (the engine does).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QStandardPaths

from gptstudio.core.errors import GPTStudioError
from gptstudio.core.model import GPTConfig, LSTMConfig
from gptstudio.core.tokenizers import Tokenizer
from gptstudio.core.train import Run, TrainConfig, TrainEvent
from gptstudio.ui.history import RunHistory


def default_runs_root() -> Path:
    """Where new runs go: `GPTSTUDIO_RUNS_DIR`, else the user's app-data folder."""
    env = os.environ.get("GPTSTUDIO_RUNS_DIR")
    if env:
        return Path(env)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(base or Path.home() / ".local" / "share" / "gptstudio") / "runs"


def list_runs(root: Path) -> list[Path]:
    """Run folders directly inside `root`, newest first."""
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if Run.exists(p)]
    return sorted(runs, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)


def history_from_events(events: list[TrainEvent], name: str) -> RunHistory:
    """Replay a run's logged events into a history (a resumed run's repeated steps replace the
    ones logged after its checkpoint)."""
    history = RunHistory(name=name)
    for event in events:
        history.add_event(event)
    return history


def read_history(path: Path) -> RunHistory:
    """The curves of the run folder `path` (CheckpointError if it is not one)."""
    return history_from_events(Run.open(path).read_metrics(), path.name)


@dataclass
class OpenedRun:
    """A run folder read for the app: configs, tokenizer, curves, and what Start does with it."""

    path: Path
    model_config: GPTConfig | LSTMConfig
    train_config: TrainConfig | None
    tokenizer: Tokenizer
    tokenizer_path: Path
    corpus_spec: str | None
    history: RunHistory
    last_checkpoint_step: int | None
    n_params: int
    imported: bool  # weights imported (e.g. GPT-2), never trained here
    checkpoint_note: str = ""  # the newest checkpoint looks damaged (checkpoint_check.py)
    task: str | None = None  # a fine-tune's ("classification" | "instructions"): no corpus

    @property
    def can_resume(self) -> bool:
        """Start continues it from its last checkpoint (a fine-tune: on its own data file)."""
        return (self.last_checkpoint_step is not None and not self.imported
                and (self.corpus_spec is not None or self.task is not None))

    @property
    def starts_from_weights(self) -> bool:
        """Start begins a new run from its weights (on the chosen corpus)."""
        return self.imported and self.last_checkpoint_step is not None

    @property
    def needs_restart(self) -> bool:
        """Stopped before its first checkpoint: Start trains it again from step 0, in place."""
        return self.last_checkpoint_step is None and not self.imported


def open_run_folder(path: Path) -> OpenedRun:
    """Read everything the app shows about a run; GPTStudioError with a reason if it cannot."""
    from gptstudio.core.model import estimate
    from gptstudio.core.train.checkpoint_check import newest_checkpoint_note

    run = Run.open(path)
    model_config = run.model_config()
    latest = run.latest_checkpoint()
    corpus, task = run.data_config.get("corpus"), run.data_config.get("task")
    try:
        n_params = estimate(model_config).n_params
    except GPTStudioError:
        n_params = 0
    return OpenedRun(
        path=run.path, model_config=model_config, train_config=run.train_config,
        tokenizer=run.load_tokenizer(), tokenizer_path=run.tokenizer_path,
        corpus_spec=corpus if isinstance(corpus, str) and corpus else None,
        history=history_from_events(run.read_metrics(), path.name),
        last_checkpoint_step=latest.step if latest is not None else None, n_params=n_params,
        imported=bool(run.data_config.get("imported_from")) and not corpus,
        checkpoint_note=newest_checkpoint_note(run),  # headers only: no weights are read
        task=task if isinstance(task, str) and task else None,
    )
