"""`gptstudio finetune classify | instruct` and `gptstudio classify`: fine-tune a run, use it.

`finetune classify` trains a classifier on a TSV/CSV of (label, text) from a base run (a
pretrained run of yours or an imported GPT-2), then prints its test accuracy and confusion
matrix; `finetune instruct` trains on Alpaca-style JSON records, then answers the held-out
records and saves the answers beside the references (`responses.json` in the run) with their
scores. Either: the last N blocks (`--train-last`, "all" for everything) or LoRA adapters
(`--lora-rank`), `--resume` / `--restart` and the signals of `train` (Ctrl-C and SIGTERM stop and
save, SIGUSR1 saves). `classify --run R TEXT...` prints each text's label and probabilities.
The work is the engine's (`gptstudio.core.finetune`, through `gptstudio.core.pipeline`); this
module turns arguments into its calls and its events into lines. Left out: the loop.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from gptstudio.cli.device import add_device_argument, with_device_override
from gptstudio.core.errors import ConfigError

if TYPE_CHECKING:
    from gptstudio.core.finetune import FinetuneSpec
    from gptstudio.core.train import TrainConfig

_TASKS = {"classify": "classification", "instruct": "instructions"}
_EPILOG = """\
Examples:
  gptstudio import-gpt2 gpt2/model.safetensors --run-dir runs/gpt2
  gptstudio finetune classify --init-from runs/gpt2 --data SMSSpamCollection --run-dir runs/spam
  gptstudio classify --run runs/spam "You won a prize! Call now"
  gptstudio finetune instruct --init-from runs/gpt2 --data instruction-data.json \\
      --run-dir runs/alpaca --lora-rank 16
While it trains, Ctrl-C / SIGTERM stop and save, SIGUSR1 saves a checkpoint (as in `train`)."""


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `finetune classify`, `finetune instruct` and `classify`."""
    finetune = sub.add_parser("finetune", help="fine-tune a run: a classifier or instructions",
                              description="Fine-tune a pretrained run, fully or with LoRA.",
                              epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    tasks = finetune.add_subparsers(dest="task", metavar="TASK", required=True)
    for name, help_text in (("classify", "a classifier from (label, text) rows (TSV/CSV)"),
                            ("instruct", "follow instructions (Alpaca-style JSON records)")):
        p = tasks.add_parser(name, help=help_text, description=help_text)
        _common_options(p, name)
        p.set_defaults(handler=finetune_run, cli_task=name)

    classify = sub.add_parser("classify", help="classify texts with a fine-tuned classifier")
    classify.add_argument("--run", required=True, help="a classification fine-tune's run folder")
    classify.add_argument("texts", nargs="+", metavar="TEXT", help="text(s) to classify")
    classify.add_argument("--json", action="store_true", help="print the results as JSON lines")
    classify.set_defaults(handler=classify_texts)


def _common_options(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument("--init-from", metavar="RUN", help="the base run (its last checkpoint)")
    p.add_argument("--data", metavar="FILE",
                   help="TSV/CSV of label,text (e.g. SMSSpamCollection), or builtin:authors"
                   " (shipped)" if name == "classify" else "JSON array or JSON Lines of instruction/input/"
                   "output records, or builtin:instructions (the book's 1,100, shipped)")
    p.add_argument("--run-dir", required=True, help="run directory to create (or resume)")
    p.add_argument("--train-last", default=None, metavar="N|all",
                   help="train the last N blocks and the final norm (0: the head alone), or all "
                        f"(default {'1' if name == 'classify' else 'all'})")
    p.add_argument("--lora-rank", type=int, default=None, metavar="R",
                   help="LoRA: freeze the base, train rank-R adapters (in the blocks trained)")
    p.add_argument("--lora-alpha", type=float, default=None, help="LoRA scale alpha (default 2R)")
    p.add_argument("--lora-dropout", type=float, default=0.0)
    p.add_argument("--lora-targets", default=None,
                   help="comma-separated layers (attn.c_attn,attn.c_proj,mlp.c_fc,mlp.c_proj)")
    p.add_argument("--epochs", type=float, default=None,
                   help=f"passes over the training split (default {5 if name == 'classify' else 2}"
                        "; --max-steps instead sets the steps)")
    p.add_argument("--max-steps", type=int, default=None)
    add_device_argument(p, training=True)
    p.add_argument("--val-fraction", type=float, default=None)
    p.add_argument("--test-fraction", type=float, default=None)
    p.add_argument("--split-seed", type=int, default=123)
    if name == "classify":
        p.add_argument("--max-length", type=int, default=None,
                       help="tokens per text (default: the longest training text, at most the "
                            "context); longer texts are cut")
        p.add_argument("--pooling", choices=("last", "mean"), default="last",
                       help="the head reads the last real token (default) or their mean")
        p.add_argument("--balance", action="store_true",
                       help="undersample every class to the smallest one")
    else:
        p.add_argument("--template", choices=("alpaca", "phi3"), default="alpaca")
        p.add_argument("--train-prompt", action="store_true",
                       help="count the prompt's tokens in the loss too (default: responses only)")
        p.add_argument("--responses", type=int, default=None, metavar="N",
                       help="answer only the first N held-out records at the end (0: none)")
        p.add_argument("--max-new-tokens", type=int, default=128)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="a training setting, e.g. --set learning_rate=1e-4 (repeatable)")
    p.add_argument("--resume", action="store_true", help="continue the fine-tune in --run-dir")
    p.add_argument("--restart", action="store_true", help="replace the run in --run-dir")
    p.add_argument("--quiet", action="store_true", help="no progress display")


def finetune_spec(args: argparse.Namespace) -> FinetuneSpec:
    """The `FinetuneSpec` the arguments describe (checked there)."""
    from gptstudio.core.finetune import DEFAULT_TRAIN_LAST, FinetuneSpec, LoRAConfig

    task = _TASKS[args.cli_task]
    if args.train_last is None:
        train_last = DEFAULT_TRAIN_LAST[task]
    elif str(args.train_last).lower() == "all":
        train_last = None
    else:
        try:
            train_last = int(args.train_last)
        except ValueError:
            raise ConfigError(f"--train-last takes a number of blocks or 'all', got "
                              f"{args.train_last!r}.") from None
    lora = None
    if args.lora_rank is not None:
        options = {"rank": args.lora_rank, "dropout": args.lora_dropout,
                   "alpha": args.lora_alpha if args.lora_alpha is not None
                   else 2.0 * args.lora_rank}
        if args.lora_targets:
            options["targets"] = tuple(t.strip() for t in args.lora_targets.split(",") if t)
        lora = LoRAConfig(**options)
    extra = ({"max_length": args.max_length, "pooling": args.pooling, "balance": args.balance}
             if task == "classification" else
             {"template": args.template, "mask_prompt": not args.train_prompt})
    return FinetuneSpec(task, args.data, train_last=train_last, lora=lora,
                        val_fraction=args.val_fraction, test_fraction=args.test_fraction,
                        split_seed=args.split_seed, **extra)


def _train_config(args: argparse.Namespace, lora: bool) -> TrainConfig:
    from gptstudio.cli.train import parse_overrides
    from gptstudio.core.finetune import default_train_config

    overrides = parse_overrides(args.overrides)
    if args.max_steps is not None:
        overrides["max_steps"] = args.max_steps
    return default_train_config(_TASKS[args.cli_task], lora=lora, **overrides)


def _resumed_on_device(args: argparse.Namespace) -> TrainConfig | None:
    """The fine-tune's own TrainConfig on `--device`, or None (its own device) without it."""
    from gptstudio.core.train import Run

    if args.device is None:
        return None
    return Run.open(args.run_dir).train_config.replace(device=args.device)


def finetune_run(args: argparse.Namespace) -> int:
    """`finetune classify | instruct`: prepare, train with a progress display, then report."""
    from gptstudio.cli.train import drive
    from gptstudio.core.pipeline import check_new_run_dir, prepare_finetune, \
        prepare_resumed_training
    from gptstudio.core.train import TrainControl

    control = TrainControl()
    if args.resume:
        given = [f for f, v in (("--init-from", args.init_from), ("--data", args.data),
                                ("--restart", args.restart)) if v]
        if given or args.overrides:
            raise ConfigError(f"--resume continues the fine-tune as it was made: drop "
                              f"{', '.join(given) or '--set'}.")
        prepared = prepare_resumed_training(args.run_dir, max_steps=args.max_steps,
                                            train_config=_resumed_on_device(args),
                                            control=control)
        if prepared.run is not None and prepared.run.checkpoint_note:  # a damaged one skipped
            print(f"note: {prepared.run.checkpoint_note}", file=sys.stderr)
    else:
        if not args.init_from or not args.data:
            raise ConfigError("A new fine-tune needs a base run (--init-from) and a data file "
                              "(--data).")
        check_new_run_dir(args.run_dir, restart=args.restart)
        with_device_override(args)  # --device X is the training setting device=X
        spec = finetune_spec(args)
        epochs = args.epochs
        if epochs is None and args.max_steps is None:
            epochs = 5 if spec.task == "classification" else 2  # the book's
        prepared = prepare_finetune(args.run_dir, args.init_from, spec,
                                    _train_config(args, spec.lora is not None), epochs=epochs,
                                    restart=args.restart, control=control)
    from gptstudio.cli.finetune_progress import FinetuneProgress
    from gptstudio.core.finetune import PreparedFinetune

    if not isinstance(prepared, PreparedFinetune):
        raise ConfigError(f"{args.run_dir} is not a fine-tune; continue it with "
                          "`gptstudio train --resume`.")
    display = FinetuneProgress(prepared, quiet=args.quiet)
    drive(prepared.trainer, control, display)
    if control.stopped:
        return 0  # stopped early: the run can be resumed; report when it is done
    if prepared.spec.task == "classification":
        _print_classification(args.run_dir)
    elif getattr(args, "responses", None) != 0:
        _print_responses(args)
    return 0


def _print_classification(run_dir: str) -> None:
    from gptstudio.core.finetune import classification_report

    report = classification_report(run_dir)
    print("accuracy: " + ", ".join(f"{name} {acc:.2%} ({report.n_examples[name]} examples)"
                                   for name, acc in report.accuracy.items()))
    width = max(len(label) for label in report.labels)
    print("test confusion (rows: true, columns: predicted):")
    print(" " * (width + 2) + "  ".join(f"{label:>{width}}" for label in report.labels))
    for label, row in zip(report.labels, report.confusion["test"]):
        print(f"{label:>{width}}  " + "  ".join(f"{int(n):>{width}}" for n in row))


def _print_responses(args: argparse.Namespace) -> None:
    from gptstudio.core.finetune import held_out_responses
    from gptstudio.core.train import Run

    report = held_out_responses(args.run_dir, max_new_tokens=args.max_new_tokens,
                                limit=args.responses)
    print(f"held-out response loss {report.response_loss:.4f}, overlap F1 "
          f"{report.mean_overlap_f1:.3f} over {len(report.responses)} records; responses "
          f"beside references in {Run.open(args.run_dir).responses_path}")


def classify_texts(args: argparse.Namespace) -> int:
    """`classify --run R TEXT...`: one line (or JSON object) per text."""
    from gptstudio.core.finetune import load_classifier

    classifier = load_classifier(args.run)
    for text in args.texts:
        p = classifier.predict(text)
        if args.json:
            print(json.dumps({"text": text, "label": p.label, "probabilities": p.probabilities,
                              "truncated": p.truncated}, ensure_ascii=False))
        else:
            probs = ", ".join(f"{label} {prob:.3f}" for label, prob in p.probabilities.items())
            cut = f" (cut to {classifier.max_length} tokens)" if p.truncated else ""
            print(f"{p.label}\t({probs}){cut}\t{text}")
    return 0
