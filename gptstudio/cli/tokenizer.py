"""`gptstudio tokenizer train | encode`: make a tokenizer from a corpus, or encode text with one.

Results go to stdout (the ids, or a line saying where the tokenizer was saved), progress to
stderr. Standard library only at import: the engine's tokenizers are imported by the handlers,
and these commands never load torch. Left out: the tokenizers themselves
(`gptstudio.core.tokenizers`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, TextIO

from gptstudio.cli.terminal import LogCadence, is_terminal

if TYPE_CHECKING:
    from gptstudio.core.tokenizers import MergeEvent


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `tokenizer train` and `tokenizer encode`."""
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
    train.set_defaults(handler=train_tokenizer)

    enc = tok_sub.add_parser("encode", help="encode text and print the token ids")
    enc.add_argument("--tokenizer", required=True,
                     help="a saved tokenizer, a .tiktoken rank file, or "
                          "gpt2|cl100k_base|o200k_base")
    enc.add_argument("text", help="the text to encode")
    enc.add_argument("--json", action="store_true", help='print {"ids": [...], "pieces": [...]}')
    enc.set_defaults(handler=encode_text)


def train_tokenizer(args: argparse.Namespace) -> int:
    """`tokenizer train`: a char or BPE tokenizer of the corpus, saved as JSON."""
    from gptstudio.core.corpora import resolve_corpus
    from gptstudio.core.tokenizers import BPETokenizer, CharTokenizer, Tokenizer

    corpus = resolve_corpus(args.corpus)
    tokenizer: Tokenizer
    if args.kind == "char":
        tokenizer = CharTokenizer.from_text(corpus.text)
    else:
        progress = None if args.quiet else MergeProgress(args.vocab_size)
        tokenizer = BPETokenizer.train(corpus.text, args.vocab_size, pattern=args.pattern,
                                       progress=progress)
        if progress is not None:
            progress.close()
    tokenizer.save(args.out)
    print(f"saved {tokenizer.name} ({tokenizer.vocab_size} tokens) to {args.out}")
    return 0


def encode_text(args: argparse.Namespace) -> int:
    """`tokenizer encode`: the ids of the text (special tokens allowed), or ids and pieces."""
    from gptstudio.core.tokenizers import resolve_tokenizer

    tokenizer = resolve_tokenizer(args.tokenizer)
    ids = tokenizer.encode(args.text, allowed_special="all")
    if args.json:
        pieces = [tokenizer.token_str(i) for i in ids]
        print(json.dumps({"ids": ids, "pieces": pieces}, ensure_ascii=False))
    else:
        print(" ".join(str(i) for i in ids))
    return 0


class MergeProgress:
    """Shows BPE merges on stderr: a bar redrawn in place on a terminal, else a line per tenth."""

    def __init__(self, vocab_size: int, stream: TextIO | None = None) -> None:
        self.vocab_size = vocab_size
        self.stream = stream if stream is not None else sys.stderr
        self.interactive = is_terminal(self.stream)
        self._cadence = LogCadence()
        self.shown = False

    def __call__(self, event: MergeEvent) -> None:
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
        """End a bar drawn in place with its newline."""
        if self.shown:
            self.stream.write("\n")
