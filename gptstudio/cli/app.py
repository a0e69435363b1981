"""`gptstudio app [PATH]`, and what a command line without a command means: open the app.

`gptstudio` alone, `gptstudio app`, `gptstudio app PATH` and `gptstudio PATH` (an existing corpus
file, folder of texts or run folder that is not a sub-command's name) all open the desktop app,
on PATH when given. A first word that is neither a command nor an existing path is an argparse
error, never an app opened on nothing. Left out: the app itself (`gptstudio.ui`, imported only
when it opens, so the headless commands never load Qt).
"""

from __future__ import annotations

import argparse
from collections.abc import Collection
from pathlib import Path


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add the `app` sub-command."""
    parser = sub.add_parser("app", help="open the desktop app (the default), optionally on PATH",
                            description="Open the GPT Studio desktop app.")
    parser.add_argument("path", nargs="?", default=None, type=_existing_path, metavar="PATH",
                        help="a corpus file, a folder of .txt/.md files, or a run folder to open")
    parser.set_defaults(handler=open_app)


def route_to_app(words: list[str], commands: Collection[str],
                 parser: argparse.ArgumentParser) -> list[str]:
    """The words to parse: `app` put in front of an empty line or of a bare existing PATH.

    Options (`--help`, `--version`) and sub-command names pass through unchanged; anything else
    is `parser.error` (exit 2) with a message saying what the word could have been.
    """
    if not words:
        return ["app"]
    first = words[0]
    if first.startswith("-") or first in commands:
        return words
    if first and Path(first).exists():
        return ["app", *words]
    parser.error(f"{first!r} is neither a command ({', '.join(commands)}) nor an existing file "
                 "or folder to open in the app.")


def open_app(args: argparse.Namespace) -> int:
    """Run the desktop app until its window closes; its exit code."""
    from gptstudio.cli import PROG
    from gptstudio.ui import run_app  # Qt is loaded only now

    # run_app opens argv[1] if present (argv[0] is the program's name).
    return run_app([PROG] if args.path is None else [PROG, args.path])


def _existing_path(text: str) -> str:
    if not text or not Path(text).exists():
        raise argparse.ArgumentTypeError(f"no such file or folder: {text!r}")
    return text
