"""`gptstudio train`: a new run, a resumed one (`--resume`) or one started over (`--restart`).

The model is chosen by a preset and `--set key=value` overrides (split here between the model's
config and the TrainConfig), or taken whole from another run (`--init-from`). The engine does the
rest (`gptstudio.core.pipeline`); this module shows its events (`progress.py`) and turns signals
into the same requests the app makes through `TrainControl`: Ctrl-C and SIGTERM stop after the
current step with a checkpoint, SIGUSR1 asks for a checkpoint and goes on. `--record-attention`
adds the engine's attention recorder as a Trainer hook (`gptstudio.core.attention`).

Signal handlers only note what was asked: the training loop passes it on to the control (and
prints it) between events. So a handler never takes a lock or writes to a stream that the
interrupted code may hold. Left out: the loop (`gptstudio.core.train`).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

from gptstudio.core.errors import ConfigError

if TYPE_CHECKING:
    from gptstudio.cli.progress import TrainProgress
    from gptstudio.core.model import GPTConfig, LSTMConfig
    from gptstudio.core.pipeline import PreparedTraining
    from gptstudio.core.tokenizers import Tokenizer
    from gptstudio.core.train.trainer import Hook
    from gptstudio.core.train import TrainConfig, TrainControl

_EPILOG = """\
While it trains:
  Ctrl-C or SIGTERM  stop after the current step, save a checkpoint and exit
                     (a second one exits at once, without saving)
  SIGUSR1            save a checkpoint after the current step and go on
                     (POSIX: kill -USR1 PID)

A run stopped before its first checkpoint cannot be resumed: --restart deletes it and starts it
over with the settings given."""


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `train`."""
    train = sub.add_parser("train", help="train a model headless, with a progress bar",
                           description="Train a model headless, with a progress bar on stderr.",
                           epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("--corpus", default="builtin:fables",
                       help="a text file, a folder, or builtin:NAME (default builtin:fables)")
    train.add_argument("--tokenizer", default=None,
                       help="char (default), bpe:VOCAB, a saved tokenizer file, or a tiktoken "
                            "encoding name")
    train.add_argument("--preset", default=None,
                       help="model preset (nano (default), tiny, small, gpt2, ...)")
    train.add_argument("--arch", choices=("gpt", "lstm"), default=None,
                       help="gpt (default) or lstm")
    train.add_argument("--init-from", default=None, metavar="RUN",
                       help="start a new run from the weights of RUN's last checkpoint (e.g. "
                            "one made by import-gpt2): its model and tokenizer, a fresh optimizer")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a model or training setting, e.g. --set n_layer=2 "
                            "--set learning_rate=3e-4 (repeatable)")
    train.add_argument("--max-steps", type=int, default=None)
    train.add_argument("--run-dir", required=True, help="run directory (created if missing)")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --run-dir from its last checkpoint")
    train.add_argument("--restart", action="store_true",
                       help="delete the run in --run-dir (if any) and start it over")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.add_argument("--record-attention", default=None, metavar="PROMPT",
                       help="record the model's attention on PROMPT while it trains, into the "
                            "run folder (replay it with `gptstudio attention --run DIR`)")
    train.add_argument("--record-every", default="auto", metavar="N",
                       help="record every N steps, or auto (default): every 10 steps or less "
                            "often, so that recording takes under 2%% of the training time")
    train.set_defaults(handler=train_model)


def train_model(args: argparse.Namespace) -> int:
    """`train`: prepare the run, then show its events until it finishes or is stopped."""
    from gptstudio.cli.progress import TrainProgress
    from gptstudio.core.pipeline import check_new_run_dir, prepare_resumed_training
    from gptstudio.core.train import TrainControl

    control = TrainControl()
    if args.resume:
        if args.restart:
            raise ConfigError("--resume continues a run and --restart starts it over: "
                              "use one of them.")
        if args.init_from is not None:
            raise ConfigError("--init-from starts a new run and --resume continues one: "
                              "use one of them.")
        if args.overrides:
            raise ConfigError("--set cannot change a run being resumed; start a new run instead.")
        prepared = prepare_resumed_training(args.run_dir, max_steps=args.max_steps,
                                            control=control, hooks=_resumed_recorder(args))
    else:
        check_new_run_dir(args.run_dir, restart=args.restart)  # before a tokenizer is trained
        prepared = _new_training(args, control)

    display = TrainProgress(prepared, quiet=args.quiet)
    with _signals_to_requests() as asked:
        try:
            for event in prepared.trainer.events():
                display.show(event)
                asked.pass_on(control, display)
        finally:
            display.close()
    return 0


# --- settings -----------------------------------------------------------------------------------


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--set key=value` pairs, values read as JSON where they parse (3e-4, true, "x")."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}.")
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw  # plain text, e.g. --set sample_prompt=Once
    return out


def _settings(args: argparse.Namespace,
              model_class: type[GPTConfig] | type[LSTMConfig],
              ) -> tuple[dict[str, Any], TrainConfig]:
    """`--set` split into model overrides and a TrainConfig (with `--max-steps`)."""
    from gptstudio.core.train import TrainConfig

    overrides = parse_overrides(args.overrides)
    model_fields = {f.name for f in dataclasses.fields(model_class)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    model_part = {k: v for k, v in overrides.items() if k in model_fields}
    train_part = {k: v for k, v in overrides.items() if k in train_fields}
    unknown = sorted(set(overrides) - set(model_part) - set(train_part))
    if unknown:
        raise ConfigError(f"Unknown setting {unknown[0]!r}: model settings are "
                          f"{', '.join(sorted(model_fields))}; training settings are "
                          f"{', '.join(sorted(train_fields))}.")
    if args.max_steps is not None:
        train_part["max_steps"] = args.max_steps
    return model_part, TrainConfig(**train_part)  # each value is checked there


def _new_training(args: argparse.Namespace, control: TrainControl) -> PreparedTraining:
    """A new run from a preset (or from `--init-from`), the corpus and the tokenizer."""
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
    model_config: GPTConfig | LSTMConfig
    if lstm:
        model_over.setdefault("block_size", base.block_size)
        model_over.setdefault("n_embd", base.n_embd)
        model_config = LSTMConfig(vocab_size=tokenizer.vocab_size, **model_over)
    else:
        model_config = with_vocab(base.replace(**model_over), tokenizer)
    check_fits(model_config, train_config.batch_size)
    return prepare_new_training(args.run_dir, corpus, tokenizer, model_config, train_config,
                                corpus_spec=args.corpus, restart=args.restart, control=control,
                                hooks=_recorder(args, model_config, tokenizer))


def _training_from_weights(args: argparse.Namespace, control: TrainControl) -> PreparedTraining:
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
                                init_from=args.init_from, restart=args.restart, control=control,
                                hooks=_recorder(args, model_config, tokenizer))


def _recorder(args: argparse.Namespace, model_config: GPTConfig | LSTMConfig,
              tokenizer: Tokenizer) -> tuple[Hook, ...]:
    """The attention recorder `--record-attention` asks for (checked before anything is
    written: an LSTM or a prompt the tokenizer cannot encode is refused), or none."""
    from gptstudio.core.attention import AttentionRecorder, check_probe

    if args.record_attention is None:
        return ()
    every = None if args.record_every == "auto" else _whole_number(args.record_every)
    check_probe(model_config, tokenizer, args.record_attention)
    return (AttentionRecorder(args.run_dir, args.record_attention, every),)


def _resumed_recorder(args: argparse.Namespace) -> tuple[Hook, ...]:
    from gptstudio.core.train import Run

    if args.record_attention is None:
        return ()
    run = Run.open(args.run_dir)
    return _recorder(args, run.model_config(), run.load_tokenizer())


def _whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"--record-every takes a whole number of steps >= 1 or auto, not "
                          f"{text!r}.")
    return value


# --- signals ------------------------------------------------------------------------------------


class _Asked:
    """What signals asked for since the last event; set by the handlers (plain attributes, so a
    handler never blocks), passed on by the loop."""

    def __init__(self) -> None:
        self.stop: str | None = None  # why ("interrupted", "terminated"), once asked
        self.stop_passed_on = False
        self.checkpoint = False

    def pass_on(self, control: TrainControl, display: TrainProgress) -> None:
        """Make the asked-for requests to `control` and say so on the display."""
        if self.stop is not None and not self.stop_passed_on:
            self.stop_passed_on = True
            display.interrupted(self.stop)
            control.stop()
        if self.checkpoint:
            self.checkpoint = False
            display.checkpoint_requested()
            control.request_checkpoint()


@contextlib.contextmanager
def _signals_to_requests() -> Iterator[_Asked]:
    """While training: the first Ctrl-C or SIGTERM asks for a stop (the loop then saves a
    checkpoint and finishes), a second one interrupts at once; SIGUSR1 asks for a checkpoint."""
    asked = _Asked()

    def on_stop(signum: int, frame: FrameType | None) -> None:
        if asked.stop is not None:
            raise KeyboardInterrupt
        asked.stop = "terminated" if signum == signal.SIGTERM else "interrupted"

    def on_checkpoint(signum: int, frame: FrameType | None) -> None:
        asked.checkpoint = True

    if threading.current_thread() is not threading.main_thread():
        yield asked  # signal handlers can only be set from the main thread
        return
    handlers = {signal.SIGINT: on_stop, signal.SIGTERM: on_stop}
    if hasattr(signal, "SIGUSR1"):  # POSIX only
        handlers[signal.SIGUSR1] = on_checkpoint
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        yield asked
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
