"""The training engine: config, schedule, optimizer, the loop, its events, runs and checkpoints.

Import from here: `from gptstudio.core.train import Trainer, TrainConfig, Run, load_checkpoint`.
Files, bottom-up: config -> schedule -> optimizer -> control -> events -> precision ->
evaluation -> samples -> atomic -> checkpoint -> state -> task -> distributed -> run ->
serving -> trainer.

A typical run:

    run = Run.create("runs/shakespeare", model_config, train_config, data_config, tokenizer)
    trainer = Trainer(model, tokenizer, train_tokens, val_tokens, train_config, run=run)
    for event in trainer.events():
        ...  # StepEvent, EvalEvent, SampleEvent, CheckpointEvent, StatusEvent, WarningEvent,
             # and WeightsEvent / AttentionEvent when asked for

and to resume it:

    run = Run.open("runs/shakespeare")
    checkpoint = load_checkpoint(run.checkpoints_dir, model, tokenizer=tokenizer)
    trainer = Trainer(model, tokenizer, train_tokens, val_tokens, run.train_config, run=run,
                      start_state=checkpoint)

From another thread, steer it through the `TrainControl` passed as `control=`: pause, resume,
stop (`stop(save=False)`: without the final checkpoint), set_learning_rate, and requests
answered with events (request_checkpoint -> CheckpointEvent; request_weights / watch_weights ->
WeightsEvent; request_attention / watch_attention -> AttentionEvent; see `serving.py`). Their
payloads come from `gptstudio.core.inspect`, which also works on any model outside training.
"""

from gptstudio.core.atomic import (
    atomic_write_bytes,
    atomic_write_text,
    clean_stale_temp_files,
)
from gptstudio.core.train.checkpoint import (
    CheckpointInfo,
    best_checkpoint,
    latest_checkpoint,
    list_checkpoints,
    prune_checkpoints,
    read_checkpoint_info,
    save_checkpoint,
)
from gptstudio.core.train.checkpoint_load import LoadedCheckpoint, load_checkpoint
from gptstudio.core.train.config import TrainConfig
from gptstudio.core.train.control import Requests, TrainControl
from gptstudio.core.train.evaluation import SplitEvaluator, SplitLoss, estimate_loss
from gptstudio.core.train.events import (
    AccuracyEvent,
    AttentionEvent,
    CheckpointEvent,
    EvalEvent,
    SampleEvent,
    StatusEvent,
    StepEvent,
    TrainEvent,
    WarningEvent,
    WeightsEvent,
    event_from_dict,
    event_to_dict,
)
from gptstudio.core.train.optimizer import build_optimizer, param_groups
from gptstudio.core.train.precision import has_fast_bf16, resolve_compile, resolve_precision
from gptstudio.core.train.run import Run, read_metrics
from gptstudio.core.train.schedule import learning_rate_at
from gptstudio.core.train.state import DataPosition, ResumeState
from gptstudio.core.train.task import (
    BatchSource,
    Evaluator,
    TrainTask,
    language_model_task,
    next_token_loss,
)
from gptstudio.core.train.trainer import Trainer

__all__ = [
    "AccuracyEvent",
    "AttentionEvent",
    "BatchSource",
    "CheckpointEvent",
    "CheckpointInfo",
    "DataPosition",
    "EvalEvent",
    "Evaluator",
    "LoadedCheckpoint",
    "Requests",
    "ResumeState",
    "Run",
    "SampleEvent",
    "SplitEvaluator",
    "SplitLoss",
    "StatusEvent",
    "StepEvent",
    "TrainConfig",
    "TrainControl",
    "TrainEvent",
    "TrainTask",
    "Trainer",
    "WarningEvent",
    "WeightsEvent",
    "atomic_write_bytes",
    "atomic_write_text",
    "best_checkpoint",
    "build_optimizer",
    "clean_stale_temp_files",
    "estimate_loss",
    "event_from_dict",
    "event_to_dict",
    "has_fast_bf16",
    "latest_checkpoint",
    "language_model_task",
    "learning_rate_at",
    "list_checkpoints",
    "load_checkpoint",
    "next_token_loss",
    "param_groups",
    "prune_checkpoints",
    "read_checkpoint_info",
    "read_metrics",
    "resolve_compile",
    "resolve_precision",
    "save_checkpoint",
]
