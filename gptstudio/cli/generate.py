"""`gptstudio sample` (its options and output) and `gptstudio score`: a run's text, token by token.

`sample` streams the continuation of a prompt to stdout. `--show-probs` prints each token with
the probability it had and its top alternatives instead (`--json`: one JSON document with the
text, why it stopped and, with `--show-probs`, every token); `--stop STRING` (repeatable; `\\n`
and `\\t` escapes) ends the text before that string; `--precision bf16` generates with bf16
copies of the weights. `score --run R FILE` prints each token of a text with its loss under the
run's model, then the mean loss and perplexity. Notes (a cropped prompt, why it stopped) go to
stderr. The work is the engine's (`core.generation`, `core.scoring`, `core.inference_precision`);
the parser of the other model commands is `model.py`'s.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gptstudio.cli.device import add_device_argument


def add_sample_arguments(sample: argparse.ArgumentParser) -> None:
    """The options of `sample` (the command itself is added by `model.py`)."""
    sample.add_argument("--run", required=True, help="run directory")
    sample.add_argument("--prompt", default="", help="text to continue")
    sample.add_argument("--max-new-tokens", type=int, default=200)
    sample.add_argument("--temperature", type=float, default=1.0, help="0 means greedy")
    sample.add_argument("--top-k", type=int, default=None)
    sample.add_argument("--top-p", type=float, default=None)
    sample.add_argument("--seed", type=int, default=None)
    sample.add_argument("--stop", action="append", default=[], metavar="STRING",
                        help="end the text before STRING (repeatable; \\n and \\t escapes)")
    sample.add_argument("--show-probs", action="store_true",
                        help="each token with its probability and its top alternatives")
    sample.add_argument("--alternatives", type=int, default=5, metavar="N",
                        help="alternatives listed per token with --show-probs (default 5)")
    sample.add_argument("--json", action="store_true",
                        help="print one JSON document (with --show-probs: every token)")
    sample.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="bf16: generate with bf16 copies of the weights (faster)")
    add_device_argument(sample, training=False)


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `score`."""
    score = sub.add_parser("score", help="per-token loss of a text under a run's model")
    score.add_argument("--run", required=True, help="run directory")
    score.add_argument("file", help="a text file, or - for standard input")
    score.add_argument("--json", action="store_true",
                       help="print the tokens and the figures as JSON")
    score.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    score.set_defaults(handler=score_file)


def _load(run: str, precision: str, device: str | None = None) -> tuple[Any, Any]:
    from gptstudio.core.inference_precision import inference_model
    from gptstudio.core.pipeline import load_trained_model

    opened, model, tokenizer = load_trained_model(run)
    if device is not None:  # --device: where the model runs
        from gptstudio.core.train.device import resolve_device

        model.to(resolve_device(device))
    if opened.checkpoint_note:  # a damaged newest checkpoint was passed over
        _note(opened.checkpoint_note)
    return inference_model(model, precision), tokenizer


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def _token_dict(event: Any) -> dict:
    return {"id": event.id, "piece": event.piece, "prob": event.prob,
            "alternatives": [{"id": i, "piece": s, "prob": p} for i, s, p in event.alternatives]}


def _probs_line(event: Any) -> str:
    alternatives = ", ".join(f"{s!r} {p:.3f}" for _, s, p in event.alternatives)
    return f"{event.piece!r:>14}  p={event.prob:.3f}   {alternatives}"


def sample_text(args: argparse.Namespace) -> int:
    """`sample`: the run's continuation of the prompt, streamed token by token."""
    from gptstudio.core.generation import run_generation, unescape
    from gptstudio.core.sampling import SamplingConfig, cut_at_stop

    stops = tuple(unescape(s) for s in args.stop)
    config = SamplingConfig(max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                            top_k=args.top_k, top_p=args.top_p, seed=args.seed,
                            stop_strings=stops,
                            n_alternatives=args.alternatives if args.show_probs else 0)
    model, tokenizer = _load(args.run, args.precision, args.device)
    hold = max((len(s) for s in stops), default=1) - 1  # a stop string may be starting
    shown = {"text": "", "printed": 0}

    def on_tokens(events: list) -> None:
        if args.json:
            return
        if args.show_probs:
            for event in events:
                print(_probs_line(event), flush=True)
            return
        shown["text"] += "".join(e.piece for e in events)
        # Print what no stop string can still claim: never a stop string, nor its beginning.
        safe = len(cut_at_stop(shown["text"], stops)[0]) - hold
        safe = max(shown["printed"], safe)
        sys.stdout.write(shown["text"][shown["printed"]:safe])
        sys.stdout.flush()
        shown["printed"] = safe

    result = run_generation(model, tokenizer, args.prompt, config, on_tokens=on_tokens)
    if result.prompt.n_cropped:
        _note(f"the prompt has {len(result.prompt.ids)} tokens; the model reads the last "
              f"{result.prompt.block_size} (its context), so the first "
              f"{result.prompt.n_cropped} were cropped")
    if args.json:
        doc = {"prompt": args.prompt, "text": result.text, "stop_reason": result.stop_reason,
               "stop_string": result.stop_string, "prompt_tokens": len(result.prompt.ids),
               "cropped_tokens": result.prompt.n_cropped, "precision": args.precision}
        if args.show_probs:
            doc["tokens"] = [_token_dict(e) for e in result.events]
        print(json.dumps(doc, ensure_ascii=False))
    elif args.show_probs:
        print(f"text: {result.text!r}")
    else:
        sys.stdout.write(result.text[shown["printed"]:] + "\n")
    if result.stop_reason in ("stop_string", "eot") and not args.json:
        _note(f"generation ended: {result.stop_message}")
    return 0


def score_file(args: argparse.Namespace) -> int:
    """`score`: one line per token (loss, probability, the model's favourite), then figures."""
    from gptstudio.core.scoring import score_text

    if args.file == "-":
        text = sys.stdin.read()
    else:
        from gptstudio.core.corpora import read_text_file

        text = read_text_file(args.file)
    model, tokenizer = _load(args.run, args.precision)
    score = score_text(model, tokenizer, text)
    if args.json:
        print(json.dumps({
            "mean_loss": score.mean_loss, "perplexity": score.perplexity,
            "bits_per_byte": score.bits_per_byte, "tokens_scored": score.n_scored,
            "tokens": [{"id": t.id, "piece": t.piece, "label": t.label, "loss": t.loss,
                        "prob": t.prob, "best": t.best_label, "best_prob": t.best_prob}
                       for t in score.tokens]}, ensure_ascii=False))
        return 0
    for k, t in enumerate(score.tokens):
        if t.loss is None:
            print(f"{k:6} {t.label!r:>14}  (first token: nothing before it to predict it)")
        else:
            print(f"{k:6} {t.label!r:>14}  loss {t.loss:7.3f}  p {t.prob:.3f}   "
                  f"model's favourite {t.best_label!r} {t.best_prob:.3f}")
    print(f"mean loss {score.mean_loss:.4f}  perplexity {score.perplexity:.2f}  "
          f"bits/byte {score.bits_per_byte:.4f}  ({score.n_scored:,} tokens scored)")
    return 0
