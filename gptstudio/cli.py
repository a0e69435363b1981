"""The `gptstudio` command: the engine, headless.

`gptstudio` alone opens the desktop app; every sub-command drives `gptstudio.core` exactly as the app
does. This module only parses arguments and prints: errors from the engine's hierarchy become a
one-line message and a non-zero exit code, never a traceback. The sub-commands' work lives in
`gptstudio.cli_commands` so this file stays a readable map of the command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from gptstudio import __version__


def _add_tokenizer_commands(sub: argparse._SubParsersAction) -> None:
    tok = sub.add_parser("tokenizer", help="train a tokenizer or encode text with one")
    tok_sub = tok.add_subparsers(dest="tokenizer_command", metavar="{train,encode}", required=True)

    train = tok_sub.add_parser("train", help="train a character or BPE tokenizer on a corpus")
    train.add_argument("corpus", help="a text file, a folder of .txt/.md files, or builtin:NAME")
    train.add_argument("--kind", choices=("char", "bpe"), default="bpe")
    train.add_argument("--vocab-size", type=int, default=512,
                       help="BPE vocabulary size, 256 byte tokens + merges + special tokens")
    train.add_argument("--pattern", choices=("gpt2", "gpt4"), default="gpt2",
                       help="regex that splits text into words before merging")
    train.add_argument("--out", required=True, help="where to save the tokenizer (JSON)")
    train.add_argument("--quiet", action="store_true", help="no progress output")

    enc = tok_sub.add_parser("encode", help="encode text and print the token ids")
    enc.add_argument("--tokenizer", required=True,
                     help="a saved tokenizer, a .tiktoken rank file, or gpt2|cl100k_base|o200k_base")
    enc.add_argument("text", help="the text to encode")
    enc.add_argument("--json", action="store_true", help='print {"ids": [...], "pieces": [...]}')


def _add_model_commands(sub: argparse._SubParsersAction) -> None:
    train = sub.add_parser("train", help="train a model headless, with a progress bar")
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
    train.add_argument("--quiet", action="store_true", help="no progress bar")

    sample = sub.add_parser("sample", help="generate text from a trained run")
    sample.add_argument("--run", required=True, help="run directory")
    sample.add_argument("--prompt", default="", help="text to continue")
    sample.add_argument("--max-new-tokens", type=int, default=200)
    sample.add_argument("--temperature", type=float, default=1.0, help="0 means greedy")
    sample.add_argument("--top-k", type=int, default=None)
    sample.add_argument("--top-p", type=float, default=None)
    sample.add_argument("--seed", type=int, default=None)

    ev = sub.add_parser("eval", help="loss, perplexity and bits per byte of a run")
    ev.add_argument("--run", required=True, help="run directory")
    ev.add_argument("--corpus", default=None, help="evaluate on this corpus instead of the run's")
    ev.add_argument("--max-batches", type=int, default=50)
    ev.add_argument("--json", action="store_true", help="print the figures as JSON")

    exp = sub.add_parser("export", help="export a run's model")
    exp.add_argument("--run", required=True, help="run directory")
    exp.add_argument("--format", choices=("hf",), default="hf",
                     help="hf: Hugging Face GPT-2 layout (model.safetensors + config.json)")
    exp.add_argument("--out", required=True, help="output directory")

    imp = sub.add_parser("import-gpt2", help="import Hugging Face GPT-2 weights into a new run")
    imp.add_argument("file", help="model.safetensors (or a folder holding it)")
    imp.add_argument("--run-dir", required=True, help="run directory to create")
    imp.add_argument("--tokenizer", default=None,
                     help="tokenizer for the run: a .tiktoken rank file or gpt2 (default gpt2)")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line; `gptstudio` with no command opens the app."""
    parser = argparse.ArgumentParser(
        prog="gptstudio",
        description="GPT Studio: build a GPT-style language model from scratch and watch it learn. "
                    "Without a command, opens the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"gptstudio {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("app", help="open the desktop app (the default)")
    _add_tokenizer_commands(sub)
    _add_model_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `gptstudio` command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in (None, "app"):
        from gptstudio.ui import run_app

        return run_app()

    from gptstudio import cli_commands
    from gptstudio.core.errors import GPTStudioError

    handler = cli_commands.HANDLERS[args.command]
    try:
        return handler(args)
    except GPTStudioError as exc:
        print(f"gptstudio: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:  # e.g. an unreadable output path or a bad --set value
        print(f"gptstudio: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gptstudio: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
