"""From a base run and a `FinetuneSpec` to a ready `Trainer`: a new fine-tune, or a resumed one.

A new fine-tune: open the base run (a pretrained run of the user's, or an imported GPT-2), read
and split the data file, tokenize it with the base's tokenizer, build the model from the base's
last checkpoint (plus a classifier head and/or LoRA adapters, all seeded with the run's seed),
freeze what does not train, and create an ordinary run folder whose data config records the task,
the base run (`init_from`), the data file's fingerprint and the whole spec. The Trainer is the one
every run uses, given this task's seams (`TrainTask`): epoch batches of the examples, the task's
loss, its evaluator, an evaluation before the first step, and (LoRA) the adapter file written
after each checkpoint. A resumed fine-tune re-reads the same file (its fingerprint must match)
and rebuilds the same model from the run's own checkpoint.

Everything here is reached through `gptstudio.core.pipeline` (`prepare_finetune`,
`prepare_resumed_training`, `load_trained_model`), which the CLI and the app share.
Left out: the loop, the data formats, the model and LoRA (their own modules).
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gptstudio.core.corpora import Corpus, read_text_file
from gptstudio.core.errors import Cancelled, CheckpointError, ConfigError
from gptstudio.core.finetune.builtin import resolve_data_path
from gptstudio.core.finetune.classification import (
    ClassificationData,
    ClassifierEvaluator,
    classification_batches,
    classification_loss,
    encode_classification,
)
from gptstudio.core.finetune.files import save_adapter
from gptstudio.core.finetune.instructions import (
    InstructionData,
    ResponseEvaluator,
    encode_records,
    instruction_batches,
)
from gptstudio.core.finetune.labelled import read_labelled, split_labelled
from gptstudio.core.finetune.lora import count_parameters, merge_lora
from gptstudio.core.finetune.model import FinetunedGPT, set_trainable
from gptstudio.core.finetune.records import read_records, split_records
from gptstudio.core.finetune.spec import FinetuneSpec
from gptstudio.core.finetune.template import get_template
from gptstudio.core.model import GPTConfig, build_model, estimate
from gptstudio.core.pipeline import PreparedTraining, check_new_run_dir, load_trained_model
from gptstudio.core.tokenizers import Tokenizer
from gptstudio.core.train import (
    Run,
    TrainConfig,
    TrainControl,
    Trainer,
    TrainTask,
    load_checkpoint,
    next_token_loss,
)
from gptstudio.core.train.precision import autocast_factory, resolve_precision
from gptstudio.core.train.trainer import Hook

FinetuneData = ClassificationData | InstructionData


@dataclass
class PreparedFinetune(PreparedTraining):
    """A fine-tune ready to run (`trainer.events()`), and what a display wants to know.
    `corpus` is the data file read as text; the token counts are the examples' tokens."""

    spec: FinetuneSpec
    data: FinetuneData
    n_trainable: int
    summary: dict[str, Any]


def read_finetune_data(spec: FinetuneSpec, tokenizer: Tokenizer, *, block_size: int,
                       text: str | None = None) -> tuple[Corpus, FinetuneData]:
    """The spec's data file (as a Corpus of its text) split and encoded for `tokenizer`."""
    path = resolve_data_path(spec.data)
    text = read_text_file(path) if text is None else text
    corpus = Corpus(path.name, str(path.resolve()), paths=(path,), text=text)
    if spec.task == "classification":
        examples = read_labelled(path, text)
        splits = split_labelled(examples, val_fraction=spec.val_fraction,
                                test_fraction=spec.test_fraction, seed=spec.split_seed,
                                balance=spec.balance)
        return corpus, encode_classification(splits, tokenizer, block_size=block_size,
                                             max_length=spec.max_length)
    records = split_records(read_records(path, text), val_fraction=spec.val_fraction,
                            test_fraction=spec.test_fraction, seed=spec.split_seed)
    return corpus, encode_records(records, tokenizer, block_size=block_size,
                                  template=get_template(spec.template),
                                  mask_prompt=spec.mask_prompt, source=path.name)


def build_finetune_model(config: GPTConfig, spec: FinetuneSpec, data: FinetuneData, *,
                         seed: int, base_state: dict[str, torch.Tensor] | None = None
                         ) -> FinetunedGPT:
    """The model a fine-tune trains: a GPT (with the base's weights `base_state`), its head,
    its adapters, frozen as the spec says; seeded (the global RNG is left as it was)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        base = build_model(config)
        if base_state is not None:
            base.load_state_dict(base_state)
        n_classes = len(data.labels) if isinstance(data, ClassificationData) else None
        model = FinetunedGPT(base, n_classes=n_classes, pooling=spec.pooling)
        set_trainable(model, train_last=spec.train_last, lora=spec.lora)
    return model


def finetune_task(model: FinetunedGPT, spec: FinetuneSpec, data: FinetuneData,
                  config: TrainConfig, *, run: Run | None = None,
                  base_run: str | None = None) -> TrainTask:
    """The trainer's seams for this fine-tune (see the module docstring)."""
    device = next(model.parameters()).device
    autocast = autocast_factory(resolve_precision(config.precision, device), device)
    sizes = {"batch_size": config.batch_size, "eval_iters": config.eval_iters,
             "autocast": autocast}
    if isinstance(data, ClassificationData):
        batches = classification_batches(data, config.batch_size, seed=config.seed)
        evaluator: Any = ClassifierEvaluator(data, **sizes)
        loss_fn: Any = classification_loss
    else:
        batches = instruction_batches(data, config.batch_size, seed=config.seed)
        evaluator = ResponseEvaluator(data, **sizes)
        loss_fn = next_token_loss  # the masked targets (-1) make it count responses only
    on_checkpoint = None
    if spec.lora is not None and run is not None:
        lora = spec.lora

        def on_checkpoint(info: Any) -> None:
            save_adapter(model, run.adapter_path, lora, step=info.step, base_run=base_run)

    return TrainTask(batches=batches, evaluator=evaluator, loss_fn=loss_fn,
                     evaluate_at_start=True, on_checkpoint=on_checkpoint)


def _with_epochs(config: TrainConfig, epochs: float | None, n_train: int) -> TrainConfig:
    if epochs is None:
        return config
    if not (isinstance(epochs, (int, float)) and math.isfinite(epochs) and epochs > 0):
        raise ConfigError(f"epochs must be a number above 0, got {epochs!r}.")
    per_epoch = max(1, n_train // config.batch_size)
    steps = max(1, math.ceil(epochs * per_epoch / config.grad_accum))
    return config.replace(max_steps=steps)


def _token_counts(data: FinetuneData) -> tuple[int, int]:
    if isinstance(data, ClassificationData):
        return (int(data.splits["train"].lengths.sum()), int(data.splits["val"].lengths.sum()))
    return tuple(sum(len(s) for s in data.splits[name].sequences)  # type: ignore[return-value]
                 for name in ("train", "val"))


def open_base(base_run: str | os.PathLike) -> tuple[Run, Any, GPTConfig]:
    """A fine-tune's base run, its latest checkpoint and its GPT config; CheckpointError /
    ConfigError saying why a run cannot be a base (no checkpoint, the LSTM, a classifier)."""
    source = Run.open(base_run)
    checkpoint = source.latest_checkpoint()
    if checkpoint is None:
        raise CheckpointError(f"The base run {source.path} has no checkpoint to start from.")
    model_config = source.model_config()
    if not isinstance(model_config, GPTConfig):
        raise ConfigError("The base run is the LSTM baseline; only a GPT can be fine-tuned.")
    if source.data_config.get("task") == "classification":
        raise ConfigError("The base run is a classifier; fine-tune a language model run (a "
                          "pretrained run, an import, or an instruction fine-tune).")
    return source, checkpoint, model_config


def prepare_finetune(
    run_dir: str | os.PathLike,
    base_run: str | os.PathLike,
    spec: FinetuneSpec,
    train_config: TrainConfig,
    *,
    epochs: float | None = None,
    restart: bool = False,
    control: TrainControl | None = None,
    hooks: Sequence[Hook] = (),
    cancel: threading.Event | None = None,
) -> PreparedFinetune:
    """A new fine-tune of `base_run`'s last checkpoint in `run_dir` (see the module docstring).

    `epochs`: train for this many passes over the training split (sets max_steps).
    `restart`: a run already in `run_dir` is replaced, once the new one is known to work.
    Errors: ConfigError / DatasetError / CheckpointError / CorpusError saying what to change;
    nothing is written before the data, the base and the model are known to be good.
    """
    if Path(base_run).resolve() == Path(run_dir).resolve():
        raise ConfigError("A fine-tune needs its own run folder, apart from its base run.")
    check_new_run_dir(run_dir, restart=restart)
    source, checkpoint, model_config = open_base(base_run)
    tokenizer = source.load_tokenizer()
    corpus, data = read_finetune_data(spec, tokenizer, block_size=model_config.block_size)
    if cancel is not None and cancel.is_set():
        raise Cancelled("The fine-tune was stopped before it began.")
    train_config = _with_epochs(train_config, epochs, len(data.splits["train"]))
    with torch.random.fork_rng(devices=[]):  # the base as a plain GPT (a LoRA base merged)
        base_state = load_trained_model(source.path)[1].state_dict()
    model = build_finetune_model(model_config, spec, data, seed=train_config.seed,
                                 base_state=base_state)
    del base_state
    n_trainable, n_total = count_parameters(model)
    summary = {**data.summary(), "n_trainable": n_trainable, "n_params": n_total,
               "method": spec.method}
    data_config = {
        "task": spec.task, "corpus": None, "data": corpus.source, "data_name": corpus.name,
        "data_fingerprint": corpus.fingerprint(),
        "init_from": {"run": str(source.path), "checkpoint": checkpoint.path.name,
                      "step": checkpoint.step},
        "finetune": spec.to_dict(), **summary,
    }
    run = Run.create(run_dir, model_config, train_config, data_config, tokenizer,
                     replace=restart)
    try:
        task = finetune_task(model, spec, data, train_config, run=run, base_run=str(source.path))
        trainer = Trainer(model, tokenizer, None, None, train_config, run=run, control=control,
                          hooks=hooks, task=task)
    except Exception:
        with contextlib.suppress(OSError, CheckpointError):
            Run.delete(run.path)  # a run that never trained leaves nothing
        raise
    n_train, n_val = _token_counts(data)
    return PreparedFinetune(trainer, run, model, tokenizer, corpus, 0,
                            estimate(model_config).n_params, n_train, n_val, spec=spec,
                            data=data, n_trainable=n_trainable, summary=summary)


def run_spec(run: Run) -> FinetuneSpec:
    """The spec a fine-tune run was made with; CheckpointError if the run is not one."""
    spec = run.data_config.get("finetune")
    if not isinstance(spec, dict):
        raise CheckpointError(f"The run {run.path.name} is not a fine-tune.")
    try:
        return FinetuneSpec.from_dict(spec)
    except ConfigError as exc:
        raise CheckpointError(f"The run {run.path.name}'s fine-tuning spec is damaged: {exc}") \
            from None


def _reread(run: Run, spec: FinetuneSpec, tokenizer: Tokenizer,
            block_size: int) -> tuple[Corpus, FinetuneData]:
    """The run's data again, checked to be the very same file contents."""
    text = read_text_file(resolve_data_path(spec.data))
    corpus, data = read_finetune_data(spec, tokenizer, block_size=block_size, text=text)
    saved = run.data_config.get("data_fingerprint")
    if saved and corpus.fingerprint() != saved:
        raise CheckpointError(f"The data file {spec.data} has changed since the fine-tune "
                              f"{run.path.name} started; resuming on other data would not "
                              "continue the same run.")
    return corpus, data


def prepare_resumed_finetune(
    run_dir: str | os.PathLike,
    *,
    max_steps: int | None = None,
    train_config: TrainConfig | None = None,
    control: TrainControl | None = None,
    hooks: Sequence[Hook] = (),
) -> PreparedFinetune:
    """Continue a fine-tune from its last checkpoint, exactly (see the module docstring)."""
    run = Run.open(run_dir)
    if run.latest_checkpoint() is None:
        raise CheckpointError(f"The fine-tune {run.path} holds no complete checkpoint to resume "
                              "from; start it over with --restart.")
    spec, tokenizer, model_config = run_spec(run), run.load_tokenizer(), run.model_config()
    corpus, data = _reread(run, spec, tokenizer, model_config.block_size)
    train_config = train_config or run.train_config
    if max_steps is not None:
        train_config = train_config.replace(max_steps=max_steps)
    model = build_finetune_model(model_config, spec, data, seed=train_config.seed)
    loaded = load_checkpoint(run.path, model, tokenizer=tokenizer)
    run.checkpoint_note = loaded.note  # damaged newer checkpoints passed over, if any
    if loaded.step >= train_config.max_steps:
        raise ConfigError(f"The run {run.path.name} already reached step {loaded.step}; raise "
                          f"its number of steps (now {train_config.max_steps}) to train further.")
    if train_config != run.train_config:
        run.save_train_config(train_config)
    base = (run.data_config.get("init_from") or {}).get("run")
    task = finetune_task(model, spec, data, train_config, run=run, base_run=base)
    trainer = Trainer(model, tokenizer, None, None, train_config, run=run, control=control,
                      hooks=hooks, start_state=loaded, task=task)
    n_train, n_val = _token_counts(data)
    n_trainable, _ = count_parameters(model)
    return PreparedFinetune(trainer, run, model, tokenizer, corpus, loaded.step,
                            estimate(model_config).n_params, n_train, n_val, spec=spec,
                            data=data, n_trainable=n_trainable,
                            summary={**data.summary(), "n_trainable": n_trainable})


def load_finetuned(run_dir: str | os.PathLike, *, data: bool = False
                   ) -> tuple[Run, FinetunedGPT, Tokenizer, FinetuneData | None]:
    """A fine-tune's model at its latest checkpoint (eval mode, any LoRA merged), its tokenizer,
    and with `data=True` its data split and encoded again (for scores on the held-out split)."""
    run = Run.open(run_dir)
    spec, tokenizer, model_config = run_spec(run), run.load_tokenizer(), run.model_config()
    if run.latest_checkpoint() is None:
        raise CheckpointError(f"The run {run.path} has no checkpoint yet; train it first.")
    encoded = _reread(run, spec, tokenizer, model_config.block_size)[1] if data else None
    labels = run.data_config.get("labels")
    if spec.task == "classification" and not isinstance(labels, list):
        raise CheckpointError(f"The run {run.path.name} does not list its labels.")
    with torch.random.fork_rng(devices=[]):
        base = build_model(model_config)
        model = FinetunedGPT(base, n_classes=len(labels) if spec.task == "classification"
                             else None, pooling=spec.pooling)
        set_trainable(model, train_last=spec.train_last, lora=spec.lora)
    run.checkpoint_note = load_checkpoint(run.path, model, tokenizer=tokenizer).note
    merge_lora(model)  # same outputs, plain matmuls
    return run, model.eval(), tokenizer, encoded
