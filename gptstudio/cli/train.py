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
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any

from gptstudio.cli.corpus_progress import corpus_display, stopped_early_note
from gptstudio.cli.device import OtherRankDisplay, add_device_argument, distributed, \
    with_device_override
from gptstudio.core.errors import ConfigError

DEFAULT_CORPUS_SPEC = "builtin:fables"

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
    train.add_argument("--corpus", default=None,
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
    add_device_argument(train, training=True)
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


@distributed  # under torchrun: one rank of a DDP run (cli/device.py)
def train_model(args: argparse.Namespace) -> int:
    """`train`: prepare the run, then show its events until it finishes or is stopped."""
    from gptstudio.cli.progress import TrainProgress
    from gptstudio.core.pipeline import check_new_run_dir, prepare_resumed_training
    from gptstudio.core.train import TrainControl
    from gptstudio.core.train.distributed import is_main_process

    with_device_override(args)  # --device X is the training setting device=X
    control = TrainControl()
    if args.resume:
        if args.restart:
            raise ConfigError("--resume continues a run and --restart starts it over: "
                              "use one of them.")
        if args.init_from is not None:
            raise ConfigError("--init-from starts a new run and --resume continues one: "
                              "use one of them.")
        from gptstudio.cli.resume import resumed_choices

        train_config, corpus = resumed_choices(args)  # a choice unlike the run's is refused
        prepared = prepare_resumed_training(args.run_dir, max_steps=args.max_steps,
                                            train_config=train_config, corpus=corpus,
                                            progress=corpus_display(args, "the corpus"),
                                            control=control, hooks=_resumed_recorder(args))
        if prepared.run is not None and prepared.run.checkpoint_note:  # a damaged one skipped
            print(f"note: {prepared.run.checkpoint_note}", file=sys.stderr)
    else:
        if is_main_process():  # under torchrun, rank 0 makes the run folder (the others wait)
            check_new_run_dir(args.run_dir, restart=args.restart)  # before a tokenizer is trained
        prepared = _new_training(args, control)

    display = TrainProgress(prepared, quiet=args.quiet) if is_main_process() else \
        OtherRankDisplay()
    drive(prepared.trainer, control, display)
    return 0


def drive(trainer, control: TrainControl, display) -> None:
    """Show each of the trainer's events, passing Ctrl-C / SIGTERM on as a saving stop."""
    with _signals_to_requests() as asked:
        try:
            for event in trainer.events():
                display.show(event)
                asked.pass_on(control, display)
        finally:
            display.close()


# --- settings -----------------------------------------------------------------------------------


def parse_overrides(pairs: list[str],
                    text_keys: frozenset[str] = frozenset()) -> dict[str, Any]:
    """`--set key=value` pairs, values read as JSON where they parse (3e-4, true, "x"); the
    value of a text setting (`text_keys`) is the text as written unless JSON-quoted."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE, got {pair!r}.")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw  # plain text, e.g. --set sample_prompt=Once
        out[key.strip()] = raw if key.strip() in text_keys and not isinstance(value, str) \
            else value  # --set sample_prompt=1984 is the text "1984"
    return out


def split_overrides(pairs: list[str], model_class: type[GPTConfig] | type[LSTMConfig],
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """`--set` pairs as (model settings, training settings); ConfigError for any other key,
    and for vocab_size (the tokenizer's, always)."""
    from gptstudio.core.train import TrainConfig

    fields = [*dataclasses.fields(model_class), *dataclasses.fields(TrainConfig)]
    text_keys = frozenset(f.name for f in fields if isinstance(f.default, str))
    overrides = parse_overrides(pairs, text_keys)
    model_fields = {f.name for f in dataclasses.fields(model_class)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    model_part = {k: v for k, v in overrides.items() if k in model_fields}
    train_part = {k: v for k, v in overrides.items() if k in train_fields}
    unknown = sorted(set(overrides) - set(model_part) - set(train_part))
    if unknown:
        raise ConfigError(f"Unknown setting {unknown[0]!r}: model settings are "
                          f"{', '.join(sorted(model_fields))}; training settings are "
                          f"{', '.join(sorted(train_fields))}.")
    if "vocab_size" in model_part:
        raise ConfigError("vocab_size cannot be set: it is always the tokenizer's vocabulary "
                          "size. Choose another tokenizer instead (e.g. --tokenizer bpe:512).")
    return model_part, train_part


def _settings(args: argparse.Namespace,
              model_class: type[GPTConfig] | type[LSTMConfig],
              ) -> tuple[dict[str, Any], TrainConfig]:
    """`--set` split into model overrides and a TrainConfig (with `--max-steps`)."""
    from gptstudio.core.train import TrainConfig

    model_part, train_part = split_overrides(args.overrides, model_class)
    if args.max_steps is not None:
        train_part["max_steps"] = args.max_steps
    return model_part, TrainConfig(**train_part)  # each value is checked there


def _new_training(args: argparse.Namespace, control: TrainControl) -> PreparedTraining:
    """A new run from a preset (or from `--init-from`), the corpus and the tokenizer."""
    from gptstudio.core.corpora import resolve_corpus
    from gptstudio.core.model import GPTConfig, LSTMConfig, from_preset
    from gptstudio.core.train.device import check_fits_for_training
    from gptstudio.core.pipeline import prepare_new_training, with_vocab
    from gptstudio.core.tokenizers import parse_tokenizer_spec, resolve_tokenizer

    if args.init_from is not None:
        return _training_from_weights(args, control)
    tokenizer_spec, preset = args.tokenizer or "char", args.preset or "nano"
    lstm = args.arch == "lstm"
    model_over, train_config = _settings(args, LSTMConfig if lstm else GPTConfig)

    # A corpus larger than memory is streamed: opened, scanned, tokenized, with progress.
    shown = corpus_display(args, args.corpus or DEFAULT_CORPUS_SPEC)
    corpus = resolve_corpus(args.corpus or DEFAULT_CORPUS_SPEC, progress=shown)
    from_text = tokenizer_spec == "char" or tokenizer_spec.startswith("bpe:")
    tokenizer = resolve_tokenizer(tokenizer_spec, corpus=corpus if from_text else None,
                                  progress=shown)
    asked = parse_tokenizer_spec(tokenizer_spec)
    if shown is not None and asked.kind == "bpe" and tokenizer.vocab_size < asked.vocab_size:
        shown.close()
        print(stopped_early_note(tokenizer.vocab_size, int(asked.vocab_size)), file=sys.stderr)
    base = from_preset(preset, vocab_size=tokenizer.vocab_size)
    model_config: GPTConfig | LSTMConfig
    if lstm:
        model_over.setdefault("block_size", base.block_size)
        model_over.setdefault("n_embd", base.n_embd)
        model_config = LSTMConfig(vocab_size=tokenizer.vocab_size, **model_over)
    else:
        model_config = with_vocab(base.replace(**model_over), tokenizer)
    check_fits_for_training(model_config, train_config)  # the free memory of its device
    return prepare_new_training(args.run_dir, corpus, tokenizer, model_config, train_config,
                                corpus_spec=args.corpus or DEFAULT_CORPUS_SPEC,
                                restart=args.restart, control=control,
                                hooks=_recorder(args, model_config, tokenizer), progress=shown)


def _training_from_weights(args: argparse.Namespace, control: TrainControl) -> PreparedTraining:
    """A new run whose model, tokenizer and initial weights come from the run `--init-from`."""
    from gptstudio.core.corpora import resolve_corpus
    from gptstudio.core.train.device import check_fits_for_training
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
    check_fits_for_training(model_config, train_config)  # the free memory of its device
    corpus_spec = args.corpus or DEFAULT_CORPUS_SPEC
    shown = corpus_display(args, corpus_spec)
    return prepare_new_training(args.run_dir, resolve_corpus(corpus_spec, progress=shown),
                                tokenizer, model_config, train_config, corpus_spec=corpus_spec,
                                init_from=args.init_from, restart=args.restart, control=control,
                                hooks=_recorder(args, model_config, tokenizer), progress=shown)


def _recorder(args: argparse.Namespace, model_config: GPTConfig | LSTMConfig,
              tokenizer: Tokenizer) -> tuple[Hook, ...]:
    """The attention recorder `--record-attention` asks for (checked before anything is
    written: an LSTM or a prompt the tokenizer cannot encode is refused), or none."""
    from gptstudio.core.attention import AttentionRecorder, check_probe

    from gptstudio.core.train.distributed import is_main_process

    if args.record_attention is None or not is_main_process():  # rank 0 alone writes
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
