"""`train --resume`: what the command line may still choose for a run that already exists.

A resumed run continues exactly the set-up it was made with: its model (preset, architecture,
every model setting), its tokenizer, its corpus, and the few training settings that fix the
data it sees (batch size, validation split, seed). A resume that names one of those differently
is refused with the differences named, never trained on the old set-up in silence. Repeating
the run's own choices is accepted. Training settings that can change on the way (max_steps, the
learning rate and its schedule, eval/sample/checkpoint intervals, ...) are taken and recorded
in the run (`prepare_resumed_training` saves the changed TrainConfig).
Left out: the resume itself (`gptstudio.core.pipeline`).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import TYPE_CHECKING, Any

from gptstudio.core.errors import ConfigError

if TYPE_CHECKING:
    from gptstudio.core.corpora import Corpus
    from gptstudio.core.tokenizers import Tokenizer
    from gptstudio.core.train import Run, TrainConfig

# Training settings a resumed run keeps: they decide which windows it trains and evaluates on.
FIXED_TRAINING = ("batch_size", "val_fraction", "seed")


def resumed_choices(args: argparse.Namespace) -> tuple[TrainConfig | None, Corpus | None]:
    """The TrainConfig (None: the run's own) and corpus (None: the run's) a `--resume` asks
    for; ConfigError naming every choice that differs from the run's."""
    from gptstudio.cli.train import split_overrides
    from gptstudio.core.train import Run

    run = Run.open(args.run_dir)
    saved = run.model_config()
    arch = run.model_config_dict.get("arch", "gpt")
    model_over, train_over = split_overrides(args.overrides, type(saved))
    differences = []
    if args.arch is not None and args.arch != arch:
        differences.append(f"--arch {args.arch} (the run is {arch})")
    differences += _model_differences(args.preset, model_over, saved)
    differences += [f"{key}={value!r} (the run's is {getattr(run.train_config, key)!r})"
                    for key, value in train_over.items()
                    if key in FIXED_TRAINING and value != getattr(run.train_config, key)]
    corpus = None
    if args.corpus is not None:
        corpus, difference = _same_corpus(args.corpus, run)
        differences += [difference] if difference else []
    if args.tokenizer is not None:
        difference = _tokenizer_difference(args.tokenizer, run)
        differences += [difference] if difference else []
    if differences:
        raise ConfigError(
            f"--resume continues the run {run.path.name} as it was made, and these choices "
            f"differ from it: {'; '.join(differences)}. Drop them to resume, or train a new "
            "run with them (another --run-dir, or --restart to replace this one).")
    train_config = None
    changes = {k: v for k, v in train_over.items() if k not in FIXED_TRAINING}
    if changes:
        train_config = run.train_config.replace(**changes)  # each value checked there
    return train_config, corpus


def _model_differences(preset: str | None, overrides: dict[str, Any], saved: Any) -> list[str]:
    """`--preset` and model `--set`s that would give another model than the run's."""
    from gptstudio.core.model import GPTConfig, from_preset

    wanted = dict(overrides)
    if preset is not None:
        base = from_preset(preset, vocab_size=saved.vocab_size)  # an unknown name: ConfigError
        shape = {f.name for f in dataclasses.fields(type(saved))} - {"vocab_size"}
        if not isinstance(saved, GPTConfig):  # the LSTM takes only its sizes from a preset
            shape = {"block_size", "n_embd"}
        wanted = {**{k: getattr(base, k) for k in shape}, **wanted}
    named = f"from --preset {preset}; " if preset is not None else ""
    return [f"{key}={value!r} ({named if key not in overrides else ''}the run's is "
            f"{getattr(saved, key)!r})"
            for key, value in sorted(wanted.items()) if value != getattr(saved, key)]


def _same_corpus(spec: str, run: Run) -> tuple[Corpus | None, str | None]:
    """The corpus `--corpus` names, if it is the run's text (even moved); else a difference."""
    from gptstudio.core.corpora import canonical_corpus_spec, resolve_corpus

    saved_spec = run.data_config.get("corpus")
    saved_fingerprint = run.data_config.get("corpus_fingerprint")
    if run.data_config.get("task"):
        return None, f"--corpus {spec} (a fine-tune re-reads its own data file)"
    if saved_spec == canonical_corpus_spec(spec):
        return None, None  # the run's own (the resume checks its text is unchanged)
    corpus = resolve_corpus(spec)
    if saved_fingerprint is not None and corpus.fingerprint() != saved_fingerprint:
        return None, (f"--corpus {spec} (other text than the run's corpus "
                      f"{run.data_config.get('corpus_name') or saved_spec})")
    return corpus, None


def _tokenizer_difference(spec: str, run: Run) -> str | None:
    """`--tokenizer SPEC` unless it gives the run's own tokenizer."""
    from gptstudio.core.tokenizers import parse_tokenizer_spec, resolve_tokenizer

    saved = run.load_tokenizer()
    parsed = parse_tokenizer_spec(spec)
    if parsed.kind == "char":  # made from the corpus, which is the run's (checked)
        same = saved.kind == "char"
    elif parsed.kind == "bpe":
        same = (saved.kind == "bpe" and getattr(saved, "pattern", None) == parsed.pattern
                and (saved.vocab_size == parsed.vocab_size
                     or (saved.vocab_size < parsed.vocab_size and _stopped_early(saved, run))))
    else:  # a file or a named encoding: the very same ranks and special tokens
        same = resolve_tokenizer(spec).fingerprint() == saved.fingerprint()
    return None if same else f"--tokenizer {spec} (the run's is {saved.name})"


def _stopped_early(saved: Tokenizer, run: Run) -> bool:
    """Whether BPE training on the run's corpus stopped before its vocabulary size (no pair
    left to merge): then any larger bpe:N gives this same tokenizer. The corpus is streamed
    (never read whole), and the answer is usually known within its first chunk."""
    from gptstudio.core.corpora import resolve_corpus
    from gptstudio.core.tokenizers.bpe import BPETokenizer
    from gptstudio.core.tokenizers.bpe_exhausted import bpe_training_exhausted

    spec = run.data_config.get("corpus")
    if not isinstance(spec, str) or not isinstance(saved, BPETokenizer):
        return False
    return bpe_training_exhausted(saved, resolve_corpus(spec).iter_chunks())
