"""The `gptstudio` command: the engine, headless, and the door to the desktop app.

`gptstudio` alone (or `gptstudio PATH`, `gptstudio app [PATH]`) opens the desktop app; every other
sub-command drives `gptstudio.core` exactly as the app does. This package only parses arguments
and prints: errors from the engine's hierarchy become a one-line message, never a traceback, and
exit code 2 for a usage error (argparse, ConfigError, TokenizerError) or 1 for a runtime
failure (see USAGE_ERROR). One module per command group, each adding its own sub-commands to
the parser:

    app.py         app (and a bare PATH)        tokenizer.py   tokenizer train|encode|compare
    train.py       train (new, --resume, --restart; Ctrl-C, SIGTERM, SIGUSR1)
    resume.py      what `train --resume` may still choose (the rest must be the run's own)
    model.py       sample, eval, export, import-gpt2
    generate.py    sample's options and output; score (per-token loss of a text)
    attention.py   attention (a run's attention on a prompt: JSON or PNG)
    finetune.py    finetune classify | instruct (full or LoRA), classify (label a text)
    cache.py       cache [--clear] (the token cache)   env.py   env (versions, devices)
    progress.py    the training display         terminal.py    terminal or log file?
    device.py      --device, and `train` under torchrun (one rank of a DDP run)

Those modules import the engine inside their handlers, so `gptstudio --help` and the tokenizer
commands start without loading torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gptstudio import __version__
from gptstudio.cli import app, attention, cache, env, finetune, generate, model, tokenizer, \
    train

PROG = "gptstudio"
# Exit codes: 0 done; 2 a usage error (argparse's own code, a ConfigError: a setting or option
# the engine refuses, or a TokenizerError: a tokenizer or text it cannot take; fix the command);
# 1 a runtime failure (a missing or damaged file, corpus, data, checkpoint, training or network
# error, or any error caused by one: the command was right, what it works on was not); 130 Ctrl-C.
USAGE_ERROR, RUNTIME_ERROR = 2, 1

_EPILOG = """\
Without a command, or given a corpus file, a folder of texts or a run folder, GPT Studio opens
the desktop app (on that path). The commands drive the same engine headless, for example:

  gptstudio tokenizer train builtin:fables --vocab-size 512 --out bpe.json
  gptstudio train --corpus builtin:fables --tokenizer bpe.json --run-dir runs/fables
  gptstudio train --run-dir runs/fables --resume --max-steps 5000
  gptstudio sample --run runs/fables --prompt "Once upon a time"
  gptstudio eval --run runs/fables

`gptstudio COMMAND --help` tells more about each command."""


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """The epilog as written, and each command's help on the command's own line."""

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):
            # argparse measures the command names one indent less deep than it prints them,
            # so the longest name (import-gpt2) would get its help on the next line.
            self._action_max_length += self._indent_increment


def _make_parser() -> tuple[argparse.ArgumentParser, tuple[str, ...]]:
    """The parser and the names of its sub-commands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        usage=f"{PROG} [-h] [--version] [COMMAND ... | PATH]",
        description="GPT Studio: build a GPT-style language model from scratch and watch it "
                    "learn.",
        epilog=_EPILOG,
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands", prog=PROG)
    # The order `--help` lists them in.
    for group in (app, tokenizer, train, model, generate, attention, finetune, cache, env):
        group.add_commands(sub)
    return parser, tuple(sub.choices)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line (see the module docstring)."""
    return _make_parser()[0]


def exit_code(exc: Exception) -> int:
    """USAGE_ERROR or RUNTIME_ERROR for an error a command ended with (see USAGE_ERROR)."""
    from gptstudio.core.errors import ConfigError, CorpusError, GPTStudioError, TokenizerError

    cause: BaseException | None = exc
    while cause is not None:  # a tokenizer that could not be read or downloaded, say
        if isinstance(cause, (OSError, CorpusError)):
            return RUNTIME_ERROR
        cause = cause.__cause__ or cause.__context__
    usage = isinstance(exc, (ConfigError, TokenizerError)) or (
        isinstance(exc, ValueError) and not isinstance(exc, GPTStudioError))
    return USAGE_ERROR if usage else RUNTIME_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gptstudio` command; returns the process exit code."""
    parser, commands = _make_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(app.route_to_app(words, commands, parser))

    from gptstudio.core.errors import GPTStudioError

    try:
        return args.handler(args)
    except Exception as exc:
        if not isinstance(exc, (GPTStudioError, OSError, ValueError)):
            raise  # a bug: its traceback is what to report
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exit_code(exc)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


__all__ = ["RUNTIME_ERROR", "USAGE_ERROR", "build_parser", "exit_code", "main"]
