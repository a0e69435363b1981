"""What each `gptstudio` sub-command does, on top of `gptstudio.core`.

Every handler takes the parsed arguments and returns an exit code. Errors are raised from the
engine's hierarchy and turned into one-line messages by `gptstudio.cli.main`. Output is plain text on
stdout (results) and stderr (progress), so commands compose in a shell.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path

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
    """Prints BPE merges as a one-line progress bar on stderr."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self.shown = False

    def __call__(self, event) -> None:  # MergeEvent
        if event.index % 16 and event.index + 257 < self.vocab_size:
            return  # redraw every 16 merges: printing each one would be the slowest part
        done = event.index + 1
        total = max(1, self.vocab_size - 257)
        piece = event.token_bytes.decode("utf-8", errors="replace")
        sys.stderr.write(f"\rmerge {done}/{total}  {piece!r:<16} x{event.count:<8} "
                         f"{event.compression:.2f} bytes/token ")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")


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


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "tokenizer": _tokenizer,
}
