"""A trained run: its model loaded, measured, or made from GPT-2 weights without training.

`load_trained_model(run_dir)`: the latest checkpoint's weights in the model the run describes
(a fine-tune gives its plain GPT, LoRA merged); `evaluate_run(run_dir)`: its loss, perplexity
and bits per byte on its validation split or a corpus (`RunEvaluation`); `import_gpt2_run`: a
run holding Hugging Face GPT-2 weights as its step-0 checkpoint. All three are importable from
`gptstudio.core.pipeline` too. Left out: preparing training (`pipeline.py`), the run folder's
files (`Run`).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn

from gptstudio.core.corpora import Corpus, resolve_corpus
from gptstudio.core.data import TokenizeProgress, split_tokens, tokenize_corpus
from gptstudio.core.errors import CheckpointError, ConfigError
from gptstudio.core.hf_gpt2 import import_hf_gpt2
from gptstudio.core.model import GPTConfig, LSTMConfig, build_model
from gptstudio.core.tokenizers import Tokenizer, resolve_tokenizer
from gptstudio.core.train import (
    Run,
    TrainConfig,
    estimate_loss,
    load_checkpoint,
    save_checkpoint,
)
from gptstudio.core.train.device import resolve_device
from gptstudio.core.train.evaluation import (
    FullPassProgress,
    count_bytes,
    full_pass_loss,
    loss_report,
    token_byte_lengths,
)


def load_trained_model(run_dir: str | os.PathLike, *,
                       device: str | None = None) -> tuple[Run, nn.Module, Tokenizer]:
    """A run's model with the weights of its latest checkpoint (eval mode), and its tokenizer.
    A fine-tune gives its language model: a plain GPT, any LoRA adapter merged, no head.
    The weights load on the CPU; `device` (a device spec) moves the model there."""
    run = Run.open(run_dir)
    if run.data_config.get("task"):
        from gptstudio.core.finetune.prepare import load_finetuned

        run, finetuned, tokenizer, _ = load_finetuned(run_dir)
        return run, _on(finetuned.language_model(), device), tokenizer
    tokenizer = run.load_tokenizer()
    model = _to_load(run.model_config())
    if run.latest_checkpoint() is None:
        raise CheckpointError(f"The run {run.path} has no checkpoint yet; train it first.")
    run.checkpoint_note = load_checkpoint(run.path, model, tokenizer=tokenizer).note
    return run, _on(model.eval(), device), tokenizer


def _to_load(config: GPTConfig | LSTMConfig) -> nn.Module:
    """A model for a checkpoint to fill. A GPT is built without drawing from the global RNG,
    which all threads share: a load in a worker must not disturb a training's initialisation."""
    from gptstudio.core.inspect import uninitialised_model

    return uninitialised_model(config) if isinstance(config, GPTConfig) else build_model(config)


def _on(model: nn.Module, device: str | None) -> nn.Module:
    return model if device is None else model.to(resolve_device(device))


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
    # `device`: a device spec, the CPU by default
    run, model, tokenizer = load_trained_model(run_dir, device=device or "cpu")
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
