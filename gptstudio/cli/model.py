"""`gptstudio sample | eval | export | import-gpt2`: use a run once it holds weights.

`sample` streams generated text to stdout (its options and output: `generate.py`); `eval`
prints a run's loss, perplexity and bits per byte (or them as JSON); `export` writes Hugging
Face GPT-2 files; `import-gpt2` makes a run from such files. The work is the engine's
(`gptstudio.core.pipeline`, `sampling`, `hf_gpt2`): these handlers turn arguments into its calls
and its results into lines. Left out: training (`train.py`).
"""

from __future__ import annotations

import argparse
import json
import sys

from gptstudio.cli import generate
from gptstudio.cli.device import add_device_argument


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `sample`, `eval`, `export` and `import-gpt2`."""
    sample = sub.add_parser("sample", help="generate text from a trained run")
    generate.add_sample_arguments(sample)  # its options and output live in generate.py
    sample.set_defaults(handler=generate.sample_text)

    ev = sub.add_parser("eval", help="loss, perplexity and bits per byte of a run")
    ev.add_argument("--run", required=True, help="run directory")
    ev.add_argument("--corpus", default=None, help="evaluate on this corpus instead of the run's")
    ev.add_argument("--max-batches", type=_at_least_one, default=50,
                    help="average the loss over this many seeded batches (default 50)")
    ev.add_argument("--stride", type=int, default=None,
                    help="a full pass instead of --max-batches random batches: every window of "
                         "the block size, one every STRIDE tokens, each token scored once")
    ev.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_device_argument(ev, training=False)
    ev.set_defaults(handler=evaluate)

    exp = sub.add_parser("export", help="export a run's model")
    exp.add_argument("--run", required=True, help="run directory")
    exp.add_argument("--format", choices=("hf",), default="hf",
                     help="hf: Hugging Face GPT-2 layout (model.safetensors + config.json)")
    exp.add_argument("--out", required=True,
                     help="output directory (not inside a run folder)")
    exp.add_argument("--force", action="store_true",
                     help="replace an earlier export in --out")
    exp.set_defaults(handler=export)

    imp = sub.add_parser("import-gpt2", help="import Hugging Face GPT-2 weights into a new run")
    imp.add_argument("file", help="model.safetensors (or a folder holding it)")
    imp.add_argument("--run-dir", required=True, help="run directory to create")
    imp.add_argument("--tokenizer", default=None,
                     help="tokenizer for the run: a .tiktoken rank file or gpt2 (default gpt2)")
    imp.set_defaults(handler=import_gpt2)


def _at_least_one(text: str) -> int:
    """A whole number >= 1 (argparse reports anything else as a usage error)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number of batches, 1 or more, not "
                                         f"{text!r} (--stride S scores every window instead)")
    return value


def evaluate(args: argparse.Namespace) -> int:
    """`eval`: one line of figures, or a JSON object of them."""
    from gptstudio.core.corpora import resolve_corpus
    from gptstudio.core.pipeline import evaluate_run

    corpus = resolve_corpus(args.corpus) if args.corpus else None
    result = evaluate_run(args.run, corpus=corpus, max_batches=args.max_batches,
                          stride=args.stride, device=args.device)
    if result.note:  # a damaged newest checkpoint was passed over
        print(f"note: {result.note}", file=sys.stderr)
    full = {} if result.stride is None else {"stride": result.stride, "scored": result.n_scored}
    if args.json:
        print(json.dumps({"split": result.split, "loss": result.loss,
                          "perplexity": result.perplexity, "bits_per_byte": result.bits_per_byte,
                          "tokens": result.n_tokens, **full}))
    else:
        how = "" if not full else (f", full pass with stride {result.stride}: "
                                   f"{result.n_scored:,} scored")
        print(f"{result.split}: loss {result.loss:.4f}  perplexity {result.perplexity:.2f}  "
              f"bits/byte {result.bits_per_byte:.4f}  ({result.n_tokens:,} tokens{how})")
    return 0


def export(args: argparse.Namespace) -> int:
    """`export --format hf`: weights, config and tokenizer files that transformers can use."""
    from gptstudio.core.hf_gpt2 import export_hf_gpt2
    from gptstudio.core.pipeline import load_trained_model

    run, model, tokenizer = load_trained_model(args.run)
    if run.checkpoint_note:  # a damaged newest checkpoint was passed over
        print(f"note: {run.checkpoint_note}", file=sys.stderr)
    out = export_hf_gpt2(model, args.out, tokenizer=tokenizer, overwrite=args.force)
    print(f"exported to {out}")
    return 0


def import_gpt2(args: argparse.Namespace) -> int:
    """`import-gpt2`: a new, untrained run holding the weights."""
    from gptstudio.core.pipeline import import_gpt2_run
    from gptstudio.core.tokenizers import resolve_tokenizer

    tokenizer = resolve_tokenizer(args.tokenizer) if args.tokenizer else None
    run = import_gpt2_run(args.file, args.run_dir, tokenizer=tokenizer)
    print(f"imported {run.model_config().n_layer}-layer GPT-2 into {run.path}")
    return 0
