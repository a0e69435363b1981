"""From choices to a ready `Trainer`: the steps the CLI and the app share.

A new run: read the corpus, tokenize it (through the on-disk token cache), split it by position,
build the model with the tokenizer's vocabulary (or take the weights of another run's last
checkpoint: `init_from`, e.g. imported GPT-2 weights to fine-tune), create the run folder (or,
with `restart`, first delete the run that is there). A resumed run: open the run folder, rebuild
corpus, tokenizer and model from what it saved, load the last checkpoint into the model. Either
way the result is a `PreparedTraining` whose `trainer.events()` runs the loop.

After training, a run is loaded (`load_trained_model`) and measured (`evaluate_run`); a run can
also be made from Hugging Face GPT-2 weights without training (`import_gpt2_run`).

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
from gptstudio.core.hf_gpt2 import import_hf_gpt2
from gptstudio.core.model import GPTConfig, LSTMConfig, build_model, estimate
from gptstudio.core.tokenizers import Tokenizer, resolve_tokenizer
from gptstudio.core.train import (
    Run,
    TrainConfig,
    TrainControl,
    Trainer,
    estimate_loss,
    load_checkpoint,
    save_checkpoint,
)
from gptstudio.core.train.evaluation import (
    FullPassProgress,
    count_bytes,
    full_pass_loss,
    loss_report,
    token_byte_lengths,
)
from gptstudio.core.train.device import resolve_device
from gptstudio.core.train.distributed import is_main_process, main_process_first
from gptstudio.core.train.run_lock import holds_run_lock
from gptstudio.core.train.trainer import Hook

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


def load_trained_model(run_dir: str | os.PathLike) -> tuple[Run, nn.Module, Tokenizer]:
    """A run's model with the weights of its latest checkpoint (eval mode), and its tokenizer.
    A fine-tune gives its language model: a plain GPT, any LoRA adapter merged, no head."""
    run = Run.open(run_dir)
    if run.data_config.get("task"):
        from gptstudio.core.finetune.prepare import load_finetuned

        run, finetuned, tokenizer, _ = load_finetuned(run_dir)
        return run, finetuned.language_model(), tokenizer
    tokenizer = run.load_tokenizer()
    model = build_model(run.model_config())
    if run.latest_checkpoint() is None:
        raise CheckpointError(f"The run {run.path} has no checkpoint yet; train it first.")
    run.checkpoint_note = load_checkpoint(run.path, model, tokenizer=tokenizer).note
    return run, model.eval(), tokenizer


@dataclass(frozen=True)
class RunEvaluation:
    """A trained run measured on some text: what `evaluate_run` returns."""

    split: str  # "val": the run's own validation split; "corpus": the whole corpus given
    loss: float  # mean cross-entropy, nats per token
    perplexity: float
    bits_per_byte: float
    n_tokens: int  # tokens in the text measured (the batches are drawn from them)
    stride: int | None = None  # a full pass over every window (evaluate_run(stride=...))
    n_scored: int | None = None  # ... which scored this many target tokens, each once
    note: str = ""  # damaged newer checkpoints passed over (LoadedCheckpoint.note), if any


def evaluate_run(
    run_dir: str | os.PathLike,
    *,
    corpus: Corpus | None = None,
    max_batches: int = 50,
    stride: int | None = None,
    progress: Callable[[TokenizeProgress | FullPassProgress], None] | None = None,
    cancel: threading.Event | None = None,
    device: str | None = None,
) -> RunEvaluation:
    """The latest checkpoint's loss, perplexity and bits per byte on the run's validation split
    (the same split training used), or on all of `corpus` when given.

    At most `max_batches` seeded batches of the run's batch size are averaged, so the figure is
    the same each time. With `stride`, every window of the sliding-window dataset (a window of
    block_size every `stride` tokens) is evaluated instead, each target token scored once
    (`full_pass_loss`; `progress` then also gets `FullPassProgress`). An imported run has no
    corpus of its own: pass one. A fine-tune without `corpus`: the loss on its validation
    split (per example for a classifier, per response token for instructions).
    """
    task = Run.open(run_dir).data_config.get("task")
    if task and corpus is None:  # a fine-tune: the loss on its own validation split
        from gptstudio.core.finetune.reports import finetune_val_loss

        loss, n = finetune_val_loss(run_dir)
        ppl = float(np.exp(loss)) if task == "instructions" else float("nan")
        return RunEvaluation("val", loss, ppl, float("nan"), n)
    run, model, tokenizer = load_trained_model(run_dir)
    model.to(resolve_device(device or "cpu"))  # `device`: a device spec, the CPU by default
    cfg = run.train_config
    if corpus is not None:
        split, tokens = "corpus", tokenize_corpus(corpus, tokenizer, progress=progress,
                                                  cancel=cancel)
    else:
        spec = run.data_config.get("corpus")
        if not isinstance(spec, str) or not spec:
            raise ConfigError(f"The run {run.path.name} was not trained on a corpus here (it was "
                              "imported); pass a corpus (--corpus) to evaluate it on one.")
        all_tokens = tokenize_corpus(resolve_corpus(spec), tokenizer, progress=progress,
                                     cancel=cancel)
        split, tokens = "val", split_tokens(all_tokens, cfg.val_fraction)[1]
    if stride is not None:  # DatasetError if the text is shorter than one window
        full = full_pass_loss(model, np.asarray(tokens), block_size=model.config.block_size,
                              stride=stride, batch_size=cfg.batch_size,
                              byte_lengths=token_byte_lengths(tokenizer), progress=progress,
                              cancel=cancel)
        return RunEvaluation(split, full.loss, full.perplexity, full.bits_per_byte,
                             int(len(tokens)), full.stride, full.n_scored, run.checkpoint_note)
    # DatasetError (from the batcher) if the text is shorter than one window.
    loss = estimate_loss(model, tokens, block_size=model.config.block_size,
                         batch_size=cfg.batch_size, iters=max(1, max_batches), seed=cfg.seed)
    n_bytes = count_bytes(tokens, token_byte_lengths(tokenizer))
    ppl, bpb = loss_report(loss, len(tokens), n_bytes)
    return RunEvaluation(split, loss, ppl, bpb, int(len(tokens)), note=run.checkpoint_note)


def import_gpt2_run(
    weights_path: str | os.PathLike,
    run_dir: str | os.PathLike,
    *,
    tokenizer: Tokenizer | None = None,
) -> Run:
    """A new run holding Hugging Face GPT-2 weights (`model.safetensors` or a folder with it)
    as its step-0 checkpoint, with `tokenizer` (default: GPT-2's own encoding).

    The run was never trained: it can be sampled, evaluated (on a corpus given then) and
    exported, or be the `init_from` of a new run that fine-tunes it; it cannot be resumed.
    """
    model = import_hf_gpt2(weights_path)
    if tokenizer is None:
        tokenizer = resolve_tokenizer("gpt2")
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ConfigError(f"The weights have a vocabulary of {model.config.vocab_size} tokens but "
                          f"the tokenizer has {tokenizer.vocab_size}; pass a matching tokenizer "
                          "(--tokenizer).")
    train_config = TrainConfig(max_steps=1, batch_size=1)
    data_config = {"corpus": None, "imported_from": str(Path(weights_path).resolve())}
    run = Run.create(run_dir, model.config, train_config, data_config, tokenizer)
    try:  # no optimizer state: the checkpoint only marks itself as imported
        save_checkpoint(run.checkpoints_dir, 0, model, {"imported": True},
                        model_config=model.config.to_dict(),
                        tokenizer_fingerprint=tokenizer.fingerprint(),
                        tokenizer_name=tokenizer.name)
    except BaseException:
        with contextlib.suppress(OSError, CheckpointError):
            Run.delete(run.path)  # a run without its weights would be a run stuck half-made
        raise
    return run


def _check_windows(train_tokens: np.ndarray, val_tokens: np.ndarray, block_size: int) -> None:
    """Refuse before building anything when a split is shorter than one training window."""
    for name, tokens in (("training", train_tokens), ("validation", val_tokens)):
        if len(tokens) < block_size + 1:
            raise DatasetError(
                f"The {name} split has {len(tokens)} tokens, fewer than one window of "
                f"block_size {block_size} + 1; use a larger corpus or a smaller block_size."
            )
