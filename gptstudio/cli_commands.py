"""What each `gptstudio` sub-command does, on top of `gptstudio.core`.

Every handler takes the parsed arguments and returns an exit code. Errors are raised from the
engine's hierarchy and turned into one-line messages by `gptstudio.cli.main`. Output is plain text on
stdout (results) and stderr (progress), so commands compose in a shell.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from gptstudio.cli_terminal import LogCadence, is_terminal
from gptstudio.core.errors import ConfigError

# -- tokenizer ---------------------------------------------------------------------------------


def _tokenizer_train(args: argparse.Namespace) -> int:
    from gptstudio.core.corpora import resolve_corpus
    from gptstudio.core.tokenizers import BPETokenizer, CharTokenizer

    corpus = resolve_corpus(args.corpus)
    if args.kind == "char":
        tokenizer = CharTokenizer.from_text(corpus.text)
    else:
        progress = None if args.quiet else _MergeProgress(args.vocab_size)
        tokenizer = BPETokenizer.train(corpus.text, args.vocab_size, pattern=args.pattern,
                                       progress=progress)
        if progress is not None:
            progress.close()
    tokenizer.save(args.out)
    print(f"saved {tokenizer.name} ({tokenizer.vocab_size} tokens) to {args.out}")
    return 0


class _MergeProgress:
    """Shows BPE merges on stderr: a bar redrawn in place on a terminal, else a line per tenth."""

    def __init__(self, vocab_size: int, stream: TextIO | None = None) -> None:
        self.vocab_size = vocab_size
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = is_terminal(self.stream)
        self._cadence = LogCadence()
        self.shown = False

    def __call__(self, event) -> None:  # MergeEvent
        done = event.index + 1
        total = max(1, self.vocab_size - 257)  # 256 byte tokens and <|endoftext|> are not merges
        if self.interactive and event.index % 16 and done < total:
            return  # redraw every 16 merges: printing each one would be the slowest part
        if not self.interactive and not self._cadence.due(done, total):
            return  # a file or a pipe: a line at each tenth of the merges
        piece = event.token_bytes.decode("utf-8", errors="replace")
        line = (f"merge {done}/{total}  {piece!r:<16} x{event.count:<8} "
                f"{event.compression:.2f} bytes/token")
        if self.interactive:
            self.stream.write("\r" + line + " ")
            self.shown = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.shown:
            self.stream.write("\n")


def _tokenizer_encode(args: argparse.Namespace) -> int:
    from gptstudio.core.tokenizers import resolve_tokenizer

    tokenizer = resolve_tokenizer(args.tokenizer)
    ids = tokenizer.encode(args.text, allowed_special="all")
    if args.json:
        pieces = [tokenizer.token_str(i) for i in ids]
        print(json.dumps({"ids": ids, "pieces": pieces}, ensure_ascii=False))
    else:
        print(" ".join(str(i) for i in ids))
    return 0


def _tokenizer(args: argparse.Namespace) -> int:
    return {"train": _tokenizer_train, "encode": _tokenizer_encode}[args.tokenizer_command](args)


# -- train -------------------------------------------------------------------------------------


def _parse_overrides(pairs: list[str]) -> dict[str, object]:
    """`--set key=value` pairs, values read as JSON where they parse (3e-4, true, "x")."""
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}.")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw  # plain text, e.g. --set sample_prompt=Once
    return out


def _split_overrides(overrides: dict[str, object], model_fields: set[str],
                     train_fields: set[str]) -> tuple[dict, dict]:
    model_part = {k: v for k, v in overrides.items() if k in model_fields}
    train_part = {k: v for k, v in overrides.items() if k in train_fields}
    unknown = sorted(set(overrides) - set(model_part) - set(train_part))
    if unknown:
        raise ConfigError(f"Unknown setting {unknown[0]!r}: model settings are "
                          f"{', '.join(sorted(model_fields))}; training settings are "
                          f"{', '.join(sorted(train_fields))}.")
    return model_part, train_part


def _settings(args: argparse.Namespace, model_class: type) -> tuple[dict, Any]:
    """`--set` split into model overrides and a TrainConfig (with `--max-steps`)."""
    import dataclasses

    from gptstudio.core.train import TrainConfig

    model_over, train_over = _split_overrides(
        _parse_overrides(args.overrides), {f.name for f in dataclasses.fields(model_class)},
        {f.name for f in dataclasses.fields(TrainConfig)})
    if args.max_steps is not None:
        train_over["max_steps"] = args.max_steps
    return model_over, TrainConfig(**train_over)


def _new_training(args: argparse.Namespace, control):
    from gptstudio.core.corpora import resolve_corpus
    from gptstudio.core.model import GPTConfig, LSTMConfig, check_fits, from_preset
    from gptstudio.core.pipeline import prepare_new_training, with_vocab
    from gptstudio.core.tokenizers import resolve_tokenizer

    if args.init_from is not None:
        return _training_from_weights(args, control)
    tokenizer_spec, preset = args.tokenizer or "char", args.preset or "nano"
    lstm = args.arch == "lstm"
    model_over, train_config = _settings(args, LSTMConfig if lstm else GPTConfig)

    corpus = resolve_corpus(args.corpus)
    from_text = tokenizer_spec == "char" or tokenizer_spec.startswith("bpe:")
    tokenizer = resolve_tokenizer(tokenizer_spec, corpus_text=corpus.text if from_text else None)
    base = from_preset(preset, vocab_size=tokenizer.vocab_size)
    if lstm:
        model_over.setdefault("block_size", base.block_size)
        model_over.setdefault("n_embd", base.n_embd)
        model_config = LSTMConfig(vocab_size=tokenizer.vocab_size, **model_over)
    else:
        model_config = with_vocab(base.replace(**model_over), tokenizer)
    check_fits(model_config, train_config.batch_size)
    return prepare_new_training(args.run_dir, corpus, tokenizer, model_config, train_config,
                                corpus_spec=args.corpus, control=control)


def _training_from_weights(args: argparse.Namespace, control):
    """A new run whose model, tokenizer and initial weights come from the run `--init-from`."""
    from gptstudio.core.corpora import resolve_corpus
    from gptstudio.core.model import check_fits
    from gptstudio.core.pipeline import init_source, prepare_new_training

    given = [flag for flag, value in (("--preset", args.preset), ("--tokenizer", args.tokenizer),
                                      ("--arch", args.arch)) if value is not None]
    if given:
        raise ConfigError(f"With --init-from the model and the tokenizer are that run's; "
                          f"drop {', '.join(given)}.")
    model_config, tokenizer = init_source(args.init_from)
    model_over, train_config = _settings(args, type(model_config))
    fixed = sorted(set(model_over) - {"dropout"})
    if fixed:
        raise ConfigError(f"With --init-from the model is that run's: {fixed[0]} cannot change "
                          "(only dropout and training settings can).")
    model_config = model_config.replace(**model_over)
    check_fits(model_config, train_config.batch_size)
    return prepare_new_training(args.run_dir, resolve_corpus(args.corpus), tokenizer,
                                model_config, train_config, corpus_spec=args.corpus,
                                init_from=args.init_from, control=control)


def _train(args: argparse.Namespace) -> int:
    from gptstudio.core.pipeline import prepare_resumed_training, run_dir_exists
    from gptstudio.core.train import TrainControl

    control = TrainControl()
    if args.resume:
        if args.init_from is not None:
            raise ConfigError("--init-from starts a new run and --resume continues one: "
                              "use one of them.")
        if args.overrides:
            raise ConfigError("--set cannot change a run being resumed; start a new run instead.")
        prepared = prepare_resumed_training(args.run_dir, max_steps=args.max_steps,
                                            control=control)
    else:
        if run_dir_exists(args.run_dir):
            raise ConfigError(f"{args.run_dir} already holds a run: add --resume to continue it, "
                              "or choose another --run-dir.")
        prepared = _new_training(args, control)
    from gptstudio.cli_progress import TrainProgress

    display = TrainProgress(prepared, quiet=args.quiet)
    with _stop_on_ctrl_c(control, display):
        try:
            for event in prepared.trainer.events():
                display.show(event)
        finally:
            display.close()
    return 0


@contextlib.contextmanager
def _stop_on_ctrl_c(control, display):
    """The first Ctrl-C asks the loop to stop between steps (it then saves a checkpoint and
    finishes); a second one interrupts at once."""

    def on_sigint(signum, frame):
        if control.stopped:
            raise KeyboardInterrupt
        display.interrupted()
        control.stop()

    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# -- sample / eval / export / import -------------------------------------------------------------


def _sample(args: argparse.Namespace) -> int:
    from gptstudio.core.pipeline import load_trained_model
    from gptstudio.core.sampling import SamplingConfig, stream_tokens

    config = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                            top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                            n_alternatives=0)
    _, model, tokenizer = load_trained_model(args.run)
    for event in stream_tokens(model, tokenizer, args.prompt, config):
        sys.stdout.write(event.piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from gptstudio.core.corpora import resolve_corpus
    from gptstudio.core.data import split_tokens, tokenize_corpus
    from gptstudio.core.pipeline import load_trained_model
    from gptstudio.core.train import estimate_loss
    from gptstudio.core.train.evaluation import count_bytes, loss_report, token_byte_lengths

    run, model, tokenizer = load_trained_model(args.run)
    cfg = run.train_config
    if args.corpus:
        split, tokens = "corpus", tokenize_corpus(resolve_corpus(args.corpus), tokenizer)
    else:
        spec = run.data_config.get("corpus")
        if not isinstance(spec, str) or not spec:
            raise ConfigError(f"The run {run.path.name} was not trained on a corpus here (it was "
                              "imported); pass --corpus to evaluate it on one.")
        split = "val"
        tokens = split_tokens(tokenize_corpus(resolve_corpus(spec), tokenizer),
                              cfg.val_fraction)[1]
    block = model.config.block_size
    loss = estimate_loss(model, tokens, block_size=block, batch_size=cfg.batch_size,
                         iters=max(1, args.max_batches), seed=cfg.seed)
    n_bytes = count_bytes(tokens, token_byte_lengths(tokenizer))
    ppl, bpb = loss_report(loss, len(tokens), n_bytes)
    figures = {"split": split, "loss": loss, "perplexity": ppl, "bits_per_byte": bpb,
               "tokens": int(len(tokens))}
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{split}: loss {loss:.4f}  perplexity {ppl:.2f}  bits/byte {bpb:.4f}  "
              f"({len(tokens):,} tokens)")
    return 0


def _export(args: argparse.Namespace) -> int:
    from gptstudio.core.hf_gpt2 import export_hf_gpt2
    from gptstudio.core.pipeline import load_trained_model

    _, model, tokenizer = load_trained_model(args.run)
    out = export_hf_gpt2(model, args.out, eot_id=tokenizer.eot_id)
    print(f"exported to {out}")
    return 0


def _import_gpt2(args: argparse.Namespace) -> int:
    from gptstudio.core.hf_gpt2 import import_hf_gpt2
    from gptstudio.core.tokenizers import resolve_tokenizer
    from gptstudio.core.train import Run, TrainConfig, save_checkpoint

    model = import_hf_gpt2(args.file)
    tokenizer = resolve_tokenizer(args.tokenizer or "gpt2")
    if tokenizer.vocab_size != model.config.vocab_size:
        raise ConfigError(f"The weights have a vocabulary of {model.config.vocab_size} tokens but "
                          f"the tokenizer has {tokenizer.vocab_size}; pass a matching --tokenizer.")
    train_config = TrainConfig(max_steps=1, batch_size=1)
    data_config = {"corpus": None, "imported_from": str(Path(args.file).resolve())}
    run = Run.create(args.run_dir, model.config, train_config, data_config, tokenizer)
    # No optimizer state: the run can be sampled, evaluated and exported as it is.
    save_checkpoint(run.checkpoints_dir, 0, model, {"imported": True},
                    model_config=model.config.to_dict(),
                    tokenizer_fingerprint=tokenizer.fingerprint(), tokenizer_name=tokenizer.name)
    print(f"imported {model.config.n_layer}-layer GPT-2 into {run.path}")
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "tokenizer": _tokenizer,
    "train": _train,
    "sample": _sample,
    "eval": _eval,
    "export": _export,
    "import-gpt2": _import_gpt2,
}
