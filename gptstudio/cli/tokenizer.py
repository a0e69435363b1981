"""`gptstudio tokenizer train | encode | compare`: make a tokenizer, encode text, compare some.

`encode --json` explains every token (its text, bytes, offsets, rank: core's
`tokenizers.explain`), so the tokens' texts rebuild the input exactly; `compare` prints how many
tokens each of several tokenizers makes of one text. Results go to stdout (the ids, a table, or
a line saying where the tokenizer was saved), progress to stderr. Standard library only at
import: the engine's tokenizers are imported by the handlers, and these commands never load
torch. Left out: the tokenizers themselves (`gptstudio.core.tokenizers`).
"""

from __future__ import annotations

import argparse
import json
import sys


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `tokenizer train`, `tokenizer encode` and `tokenizer compare`."""
    tok = sub.add_parser("tokenizer", help="train a tokenizer, encode text, compare tokenizers")
    tok_sub = tok.add_subparsers(dest="tokenizer_command", metavar="{train,encode,compare}",
                                 required=True)

    train = tok_sub.add_parser("train", help="train a character or BPE tokenizer on a corpus")
    train.add_argument("corpus", help="a text file, a folder of .txt/.md files, or builtin:NAME")
    train.add_argument("--kind", choices=("char", "bpe"), default="bpe")
    train.add_argument("--vocab-size", type=int, default=512,
                       help="BPE vocabulary size, 256 byte tokens + merges + special tokens")
    train.add_argument("--pattern", choices=("gpt2", "gpt4"), default="gpt2",
                       help="regex that splits text into words before merging")
    train.add_argument("--out", required=True, help="where to save the tokenizer (JSON)")
    train.add_argument("--sample-chars", type=int, default=None, metavar="N",
                       help="BPE: count the words of a sample of about N characters spread over "
                            "the corpus (default: all of it; either way it is streamed)")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.set_defaults(handler=train_tokenizer)

    enc = tok_sub.add_parser("encode", help="encode text and print the token ids")
    enc.add_argument("--tokenizer", required=True,
                     help="a saved tokenizer, a .tiktoken rank file, or "
                          "gpt2|cl100k_base|o200k_base")
    _add_text_arguments(enc)
    enc.add_argument("--json", action="store_true",
                     help='print {"ids", "pieces", "tokens": [{id, text, start, end, bytes, '
                          '...}], "splits", "stats"}; the pieces join to the text exactly')
    enc.set_defaults(handler=encode_text)

    cmp = tok_sub.add_parser("compare", help="tokens, characters and bytes per token of one "
                                             "text under several tokenizers")
    cmp.add_argument("--tokenizer", action="append", required=True, dest="tokenizers",
                     metavar="SPEC", help="repeat for each: char, bpe:N[:gpt4] (need --corpus), "
                                          "a saved tokenizer, a .tiktoken file, gpt2, ...")
    cmp.add_argument("--corpus", default=None,
                     help="the corpus char and bpe:N are built from (builtin:NAME, a path)")
    _add_text_arguments(cmp)
    cmp.add_argument("--json", action="store_true", help="print the rows as JSON")
    cmp.set_defaults(handler=compare_tokenizers)


def _add_text_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("text", nargs="?", default=None, help="the text (or use --file)")
    parser.add_argument("--file", default=None, help="read the text from this UTF-8 file "
                                                     "('-': standard input)")
    parser.add_argument("--ordinary", action="store_true",
                        help="read <|endoftext|> and other special tokens as plain text "
                             "(default: as their special ids)")


def _read_text(args: argparse.Namespace) -> str:
    from gptstudio.core.corpora import read_text_file
    from gptstudio.core.errors import TokenizerError

    if (args.text is None) == (args.file is None):
        raise TokenizerError("Give the text to encode, or --file PATH (not both).")
    if args.file is None:
        return str(args.text)
    if args.file == "-":
        return sys.stdin.read()
    return read_text_file(args.file)


def train_tokenizer(args: argparse.Namespace) -> int:
    """`tokenizer train`: a char or BPE tokenizer of the corpus, saved as JSON.

    The corpus is streamed (opened, then read chunk by chunk), never held whole, with progress
    on stderr from the start; a BPE that runs out of pairs before `--vocab-size` says so."""
    from gptstudio.cli.corpus_progress import corpus_display, stopped_early_note
    from gptstudio.core.corpora import resolve_corpus
    from gptstudio.core.errors import TokenizerError
    from gptstudio.core.tokenizers import CharTokenizer, Tokenizer, train_bpe_chunks

    if args.sample_chars is not None and args.sample_chars < 1:
        raise TokenizerError(f"--sample-chars must be a positive number of characters, not "
                             f"{args.sample_chars}.")
    shown = corpus_display(args, args.corpus, args.vocab_size)
    tokenizer: Tokenizer
    try:
        corpus = resolve_corpus(args.corpus, progress=shown)
        if args.kind == "char":
            tokenizer = CharTokenizer.from_chunks(corpus.iter_chunks(),
                                                  total_chars=corpus.n_chars, progress=shown)
        else:
            tokenizer = train_bpe_chunks(corpus.iter_chunks(), args.vocab_size,
                                         pattern=args.pattern, progress=shown,
                                         total_chars=corpus.n_chars,
                                         sample_chars=args.sample_chars)
    finally:
        if shown is not None:
            shown.close()
    tokenizer.save(args.out)
    print(f"saved {tokenizer.name} ({tokenizer.vocab_size} tokens) to {args.out}")
    if args.kind == "bpe" and tokenizer.vocab_size < args.vocab_size:
        print(stopped_early_note(tokenizer.vocab_size, args.vocab_size), file=sys.stderr)
    return 0


def encode_text(args: argparse.Namespace) -> int:
    """`tokenizer encode`: the ids of the text, or every token explained (--json)."""
    from gptstudio.core.tokenizers import resolve_tokenizer
    from gptstudio.core.tokenizers.explain import (
        encode_for_view,
        explain_text,
        explanation_dict,
    )

    tokenizer = resolve_tokenizer(args.tokenizer)
    text, allowed = _read_text(args), "none" if args.ordinary else "all"
    if args.json:
        spans = explain_text(tokenizer, text, allowed_special=allowed)
        print(json.dumps(explanation_dict(tokenizer, spans), ensure_ascii=False))
    else:
        print(" ".join(str(i) for i in encode_for_view(tokenizer, text, allowed)))
    return 0


def compare_tokenizers(args: argparse.Namespace) -> int:
    """`tokenizer compare`: one row per tokenizer; exit 1 if one of them cannot read the text."""
    from gptstudio.core.corpora import resolve_corpus
    from gptstudio.core.errors import GPTStudioError
    from gptstudio.core.tokenizers import parse_tokenizer_spec, resolve_tokenizer
    from gptstudio.core.tokenizers.explain import token_stats

    text, allowed = _read_text(args), "none" if args.ordinary else "all"
    specs = [parse_tokenizer_spec(spec) for spec in args.tokenizers]  # all errors up front
    corpus = None
    if any(spec.needs_corpus for spec in specs):
        if args.corpus is None:
            from gptstudio.core.errors import TokenizerError

            raise TokenizerError("char and bpe:N are built from a corpus: add --corpus "
                                 "(e.g. --corpus builtin:fables).")
        corpus = resolve_corpus(args.corpus)  # streamed by char and bpe:N, never held whole
    rows = []
    for spec in specs:
        try:
            tokenizer = resolve_tokenizer(spec, corpus=corpus)
            stats = token_stats(tokenizer, text, allowed_special=allowed)
        except GPTStudioError as exc:
            rows.append({"tokenizer": spec.to_spec(), "error": str(exc)})
            continue
        rows.append({"tokenizer": spec.to_spec(), "name": tokenizer.name,
                     "vocab_size": tokenizer.vocab_size, "tokens": stats.n_tokens,
                     "chars_per_token": stats.chars_per_token,
                     "bytes_per_token": stats.bytes_per_token})
    if args.json:
        print(json.dumps({"chars": len(text), "bytes": len(text.encode("utf-8", "replace")),
                          "rows": rows}, ensure_ascii=False))
    else:
        print(f"{'tokenizer':<28} {'vocab':>8} {'tokens':>9} {'chars/tok':>9} {'bytes/tok':>9}")
        for row in rows:
            if "error" in row:
                print(f"{row['tokenizer']:<28} error: {row['error']}")
                continue
            print(f"{row['name'][:28]:<28} {row['vocab_size']:>8,} {row['tokens']:>9,} "
                  f"{row['chars_per_token']:>9.2f} {row['bytes_per_token']:>9.2f}")
    return 1 if any("error" in row for row in rows) else 0
