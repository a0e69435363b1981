"""From choices to a ready `Trainer`: the steps the CLI and the app share.

A new run: read the corpus, tokenize it (through the on-disk token cache), split it by position,
build the model with the tokenizer's vocabulary (or take the weights of another run's last
checkpoint: `init_from`, e.g. imported GPT-2 weights to fine-tune), create the run folder (or,
with `restart`, first delete the run that is there). A resumed run: open the run folder, rebuild
corpus, tokenizer and model from what it saved, load the last checkpoint into the model. Either
way the result is a `PreparedTraining` whose `trainer.events()` runs the loop.

After training, a run is loaded (`load_trained_model`) and measured (`evaluate_run`); a run can
also be made from Hugging Face GPT-2 weights without training (`import_gpt2_run`): those live in
`trained.py` and are importable from here.

Left out: the loop itself (`gptstudio.core.train`), the run folder's files (`Run`), and any
printing or widgets (the callers).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from gptstudio.core.corpora import Corpus, canonical_corpus_spec, resolve_corpus
from gptstudio.core.data import TokenizeProgress, split_tokens, tokenize_corpus
from gptstudio.core.errors import CheckpointError, ConfigError, DatasetError
from gptstudio.core.model import GPTConfig, LSTMConfig, build_model, estimate
from gptstudio.core.tokenizers import Tokenizer
from gptstudio.core.train import Run, TrainConfig, TrainControl, Trainer, load_checkpoint
from gptstudio.core.train.distributed import is_main_process, main_process_first
from gptstudio.core.train.run_lock import holds_run_lock
from gptstudio.core.train.trainer import Hook
from gptstudio.core.trained import (  # noqa: F401 - importable from here, as they always were
    RunEvaluation,
    evaluate_run,
    import_gpt2_run,
    load_trained_model,
)

if TYPE_CHECKING:
    from gptstudio.core.finetune.prepare import PreparedFinetune
    from gptstudio.core.finetune.spec import FinetuneSpec

ModelConfig = GPTConfig | LSTMConfig


@dataclass
class PreparedTraining:
    """A trainer ready to run, and what a progress display wants to know about it."""

    trainer: Trainer
    run: Run | None  # None on the ranks other than 0 of a distributed run
    model: nn.Module
    tokenizer: Tokenizer
    corpus: Corpus
    start_step: int
    n_params: int
    n_train_tokens: int
    n_val_tokens: int

    @property
    def resumed(self) -> bool:
        return self.start_step > 0


def with_vocab(model_config: ModelConfig, tokenizer: Tokenizer) -> ModelConfig:
    """The model config with the tokenizer's vocabulary size (the two must always agree)."""
    if model_config.vocab_size == tokenizer.vocab_size:
        return model_config
    return model_config.replace(vocab_size=tokenizer.vocab_size)


def check_new_run_dir(run_dir: str | os.PathLike, *, restart: bool = False) -> None:
    """CheckpointError if `run_dir` already holds a run and `restart` is not asked for; the
    message names both ways out. Callers that build the tokenizer first call it before."""
    if Run.exists(run_dir) and not restart:
        raise CheckpointError(
            f"{run_dir} already holds a run: continue it with --resume, or start it over with "
            "--restart (which deletes it); or choose another folder."
        )


@holds_run_lock  # one writer per run folder, from here to the end of events()
def prepare_new_training(
    run_dir: str | os.PathLike,
    corpus: Corpus,
    tokenizer: Tokenizer,
    model_config: ModelConfig,
    train_config: TrainConfig,
    *,
    corpus_spec: str | None = None,
    init_from: str | os.PathLike | None = None,
    restart: bool = False,
    control: TrainControl | None = None,
    hooks: Sequence[Hook] = (),
    progress: Callable[[TokenizeProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> PreparedTraining:
    """Tokenize, split, build and create the run folder for a new run in `run_dir`.

    `corpus_spec` ("builtin:fables", a path) is recorded so that the run can be resumed later
    without asking for the corpus again; `progress` receives the tokenizer cache's events.
    `init_from`: a run folder whose last checkpoint gives the initial weights instead of the
    seed (its model config and tokenizer must be these; see `init_source`). The optimizer starts
    afresh at step 0: a new run that begins where the other one's weights are.
    `restart`: a run already in `run_dir` is deleted (`Run.delete`) and this one takes its place;
    without it such a run is refused. The old run is deleted only once the new one is known to
    be possible (corpus tokenized, windows checked, model built), as it is created.
    """
    model_config = with_vocab(model_config, tokenizer)
    check_new_run_dir(run_dir, restart=restart or not is_main_process())  # torchrun: rank 0's
    source = None
    if init_from is not None:
        if restart and Path(init_from).resolve() == Path(run_dir).resolve():
            raise ConfigError("A run cannot start over from its own weights: they would be "
                              "deleted; start from another run.")
        source = Run.open(init_from)
        if source.latest_checkpoint() is None:
            raise CheckpointError(f"The run {source.path} has no checkpoint to start from.")
    with main_process_first():  # rank 0 writes the token cache, the other ranks read it
        tokens = tokenize_corpus(corpus, tokenizer, progress=progress, cancel=cancel)
    train_tokens, val_tokens = split_tokens(tokens, train_config.val_fraction)
    _check_windows(train_tokens, val_tokens, model_config.block_size)
    # The initial weights come from the run's seed, so the same choices give the same run.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(train_config.seed)
        model = build_model(model_config)
    started_from = None
    if source is not None:  # names any model-config or tokenizer mismatch
        finetuned = bool(source.data_config.get("task"))
        loaded = load_checkpoint(source.path, None if finetuned else model,
                                 model_config=model_config.to_dict(), tokenizer=tokenizer)
        if finetuned:  # a fine-tune's checkpoint holds more: take its plain GPT (LoRA merged)
            model.load_state_dict(load_trained_model(source.path)[1].state_dict())
        started_from = {"run": str(source.path), "checkpoint": loaded.info.path.name,
                        "step": loaded.step}
    data_config = {
        "corpus": canonical_corpus_spec(corpus_spec) if corpus_spec else corpus.source,
        "corpus_name": corpus.name,
        "corpus_fingerprint": corpus.fingerprint(),
        "n_bytes": corpus.n_bytes,
        "n_tokens": int(len(tokens)),
        "val_fraction": train_config.val_fraction,
    }
    if started_from is not None:
        data_config["init_from"] = started_from
    run = Run.create(run_dir, model_config, train_config, data_config, tokenizer,
                     replace=restart) if is_main_process() else None  # rank 0 writes it
    try:  # the Trainer checks the data and the sample prompt
        trainer = Trainer(model, tokenizer, train_tokens, val_tokens, train_config, run=run,
                          control=control, hooks=hooks)
    except Exception:
        with contextlib.suppress(OSError, CheckpointError):  # the first error is the one to see
            if run is not None:
                Run.delete(run.path)  # a run that never trained leaves nothing
        raise
    return PreparedTraining(trainer, run, model, tokenizer, corpus, 0,
                            estimate(model_config).n_params, len(train_tokens), len(val_tokens))


@holds_run_lock  # one writer per run folder, from here to the end of events()
def prepare_resumed_training(
    run_dir: str | os.PathLike,
    *,
    max_steps: int | None = None,
    train_config: TrainConfig | None = None,
    corpus: Corpus | None = None,
    control: TrainControl | None = None,
    hooks: Sequence[Hook] = (),
    progress: Callable[[TokenizeProgress], None] | None = None,
    cancel: threading.Event | None = None,
) -> PreparedTraining:
    """Re-open a run and continue it from its last checkpoint, optionally up to `max_steps`
    (or with a changed `train_config`: more steps, another learning rate; saved in the run).

    The corpus is read again from where the run says it came from (or `corpus`, if given); it
    must be the same text, or the data position saved in the checkpoint would mean nothing.
    A run stopped before its first checkpoint cannot resume: the error says to restart it.
    A fine-tune re-reads its own data file instead (`corpus` is not used).
    """
    run = Run.open(run_dir)
    if run.data_config.get("task"):  # a fine-tune: its data file and model (finetune/prepare.py)
        from gptstudio.core.finetune.prepare import prepare_resumed_finetune

        return prepare_resumed_finetune(run_dir, max_steps=max_steps, train_config=train_config,
                                        control=control, hooks=hooks)
    if run.latest_checkpoint() is None:  # checked before the (possibly long) tokenization
        raise CheckpointError(
            f"The run {run.path} holds no complete checkpoint to resume from (it was stopped "
            "before its first one); start it over with --restart."
        )
    tokenizer = run.load_tokenizer()
    model_config = run.model_config()
    if corpus is None:
        spec = run.data_config.get("corpus")
        if run.data_config.get("imported_from") and not spec:
            raise CheckpointError(
                f"The run {run.path.name} holds imported weights and was never trained, so there "
                "is nothing to resume. Start a new run from its weights instead (the command "
                "line's `train --init-from RUN --corpus ...`)."
            )
        if not isinstance(spec, str) or not spec:
            raise CheckpointError(f"The run {run.path} does not say which corpus it trained on.")
        corpus = resolve_corpus(spec, progress=progress, cancel=cancel)  # ReadProgress
    saved_fingerprint = run.data_config.get("corpus_fingerprint")
    if saved_fingerprint and corpus.fingerprint() != saved_fingerprint:
        raise CheckpointError(
            f"The corpus {corpus.name} has changed since the run {run.path.name} started; "
            "resuming on different text would not continue the same run."
        )
    if train_config is None:
        train_config = run.train_config
    if max_steps is not None:
        train_config = train_config.replace(max_steps=max_steps)
    with main_process_first():
        tokens = tokenize_corpus(corpus, tokenizer, progress=progress, cancel=cancel)
    train_tokens, val_tokens = split_tokens(tokens, train_config.val_fraction)
    model = build_model(model_config)
    loaded = load_checkpoint(run.path, model, tokenizer=tokenizer)
    run.checkpoint_note = loaded.note  # damaged newer checkpoints passed over, if any
    if loaded.step >= train_config.max_steps:
        raise ConfigError(
            f"The run {run.path.name} already reached step {loaded.step}; raise its number of "
            f"steps (now {train_config.max_steps}) to train further."
        )
    if train_config != run.train_config and is_main_process():  # once it is known to work
        run.save_train_config(train_config)
    trainer = Trainer(model, tokenizer, train_tokens, val_tokens, train_config, run=run,
                      control=control, hooks=hooks, start_state=loaded)
    return PreparedTraining(trainer, run, model, tokenizer, corpus, loaded.step,
                            estimate(model_config).n_params, len(train_tokens), len(val_tokens))


@holds_run_lock  # one writer per run folder, from here to the end of events()
def prepare_finetune(run_dir: str | os.PathLike, base_run: str | os.PathLike, spec: FinetuneSpec,
                     train_config: TrainConfig, **options: Any) -> PreparedFinetune:
    """A new fine-tune of `base_run` as `spec` says ("classification" | "instructions", full or
    LoRA), through the one Trainer; options: epochs, restart, control, hooks, cancel. See
    `gptstudio.core.finetune.prepare`; resume it with `prepare_resumed_training`."""
    from gptstudio.core.finetune.prepare import prepare_finetune as prepare

    return prepare(run_dir, base_run, spec, train_config, **options)


def init_source(run_dir: str | os.PathLike) -> tuple[ModelConfig, Tokenizer]:
    """The model config and tokenizer a new run must use to start from `run_dir`'s weights."""
    source = Run.open(run_dir)
    return source.model_config(), source.load_tokenizer()


def _check_windows(train_tokens: np.ndarray, val_tokens: np.ndarray, block_size: int) -> None:
    """Refuse before building anything when a split is shorter than one training window."""
    for name, tokens in (("training", train_tokens), ("validation", val_tokens)):
        if len(tokens) < block_size + 1:
            raise DatasetError(
                f"The {name} split has {len(tokens)} tokens, fewer than one window of "
                f"block_size {block_size} + 1; use a larger corpus or a smaller block_size."
            )
