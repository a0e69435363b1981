"""Reading run folders for the app: their curves as a `RunHistory`, their configs, resumability.

The engine writes and parses run folders (`Run`, `read_metrics`); this module turns what it
reads into what the Train tab draws, and finds runs in the runs folder. A run's corpus is stored
in its `data_config.json` under "corpus" as a choice string (`"builtin:fables"`, a path, ...),
so an opened run can be resumed on the same text. Left out: writing runs (the engine does).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QStandardPaths

from gptstudio.core.errors import GPTStudioError
from gptstudio.core.train.events import EvalEvent, SampleEvent, StepEvent
from gptstudio.core.train.run import METRICS_FILE, RUN_FILE, Run, read_metrics
from gptstudio.ui.history import RunHistory


def default_runs_root() -> Path:
    """Where new runs go: `GPTSTUDIO_RUNS_DIR`, else the user's app-data folder."""
    env = os.environ.get("GPTSTUDIO_RUNS_DIR")
    if env:
        return Path(env)
    base = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppLocalDataLocation)
    return Path(base or Path.home() / ".local" / "share" / "gptstudio") / "runs"


def is_run_folder(path: Path) -> bool:
    return path.is_dir() and (path / RUN_FILE).is_file()


def list_runs(root: Path) -> list[Path]:
    """Run folders directly inside `root`, newest first."""
    if not root.is_dir():
        return []
    runs = [p for p in root.iterdir() if is_run_folder(p)]
    return sorted(runs, key=lambda p: (p / RUN_FILE).stat().st_mtime, reverse=True)


def history_from_events(events: list[Any], name: str) -> RunHistory:
    """Replay a run's logged events into a history (a resumed run's repeated steps replace the
    ones logged after its checkpoint)."""
    history = RunHistory(name=name)
    for event in events:
        if isinstance(event, StepEvent):
            add_step_event(history, event)
        elif isinstance(event, EvalEvent):
            add_eval_event(history, event)
        elif isinstance(event, SampleEvent):
            history.add_sample(event.step, event.prompt + event.text)
    return history


def add_step_event(history: RunHistory, ev: StepEvent) -> None:
    history.add_step(step=ev.step, tokens=ev.tokens_seen, elapsed=ev.elapsed, loss=ev.loss,
                     lr=ev.lr, grad_norm=ev.grad_norm, tokens_per_s=ev.tokens_per_sec)


def add_eval_event(history: RunHistory, ev: EvalEvent) -> None:
    tokens, elapsed = history.at_step(ev.step)
    history.add_eval(step=ev.step, tokens=tokens, elapsed=elapsed, train_loss=ev.train_loss,
                     val_loss=ev.val_loss, train_bpb=ev.train_bpb, val_bpb=ev.val_bpb)


def read_history(path: Path) -> RunHistory:
    """The curves of the run folder `path` (CheckpointError if it is not one)."""
    return history_from_events(read_metrics(path / METRICS_FILE), path.name)


@dataclass
class OpenedRun:
    """A run folder read for the app: configs, tokenizer, curves, and whether it can resume."""

    path: Path
    model_config: Any
    train_config: Any
    tokenizer: Any
    corpus_spec: str | None
    history: RunHistory
    last_checkpoint_step: int | None
    n_params: int

    @property
    def can_resume(self) -> bool:
        return self.last_checkpoint_step is not None and self.corpus_spec is not None


def open_run_folder(path: Path) -> OpenedRun:
    """Read everything the app shows about a run; GPTStudioError with a reason if it cannot."""
    from gptstudio.core.model import estimate

    run = Run.open(path)
    model_config = run.model_config()
    tokenizer = run.load_tokenizer()
    latest = run.latest_checkpoint()
    corpus = run.data_config.get("corpus")
    history = history_from_events(run.read_metrics(), path.name)
    try:
        n_params = estimate(model_config).n_params
    except GPTStudioError:
        n_params = 0
    return OpenedRun(
        path=path, model_config=model_config, train_config=run.train_config, tokenizer=tokenizer,
        corpus_spec=corpus if isinstance(corpus, str) and corpus else None, history=history,
        last_checkpoint_step=latest.step if latest is not None else None, n_params=n_params,
    )


def finite_or_none(value: float) -> float | None:
    return value if value is not None and math.isfinite(value) else None
