"""`gptstudio attention`: a run's attention on a prompt, as JSON or as a PNG picture.

    gptstudio attention --run R --prompt P [--step S] [--layer L [--head H]] --json | --png FILE

With `--prompt`, the run's checkpoint at `--step` (default: its latest) reads the prompt; without
it, the attention recorded during training (`gptstudio train --record-attention`) at that step is
shown. Layers and heads count from 1, as in the app. `--png` draws the layers x heads grid, one
layer's heads (`--layer`) or one head's labelled heatmap (`--layer` and `--head`); `--json`
prints the tokens, each head's statistics, the top next tokens and the weights. The engine does
the work (`gptstudio.core.attention`); this module parses and prints. Left out: the app's tab.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gptstudio.core.errors import ConfigError

_EPILOG = """\
examples:
  gptstudio attention --run runs/copy --prompt "abcd|abcd" --png grid.png
  gptstudio attention --run runs/copy --prompt "abcd|abcd" --layer 2 --head 1 --png head.png
  gptstudio attention --run runs/copy --step 500 --json      (the probe recorded at step 500)

The JSON holds, per head, its entropy (bits), the mean weight on the previous, the first and the
same token, and a label ("previous token", "first token", "same token", "broad") when a pattern
is clear; "weights" are attention[query][key] (of the chosen head, layer, or all)."""


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `attention`."""
    cmd = sub.add_parser("attention", help="a run's attention on a prompt, as JSON or PNG",
                         description="Show how a run's model attends to a prompt.",
                         epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    cmd.add_argument("--run", required=True, help="run directory")
    cmd.add_argument("--prompt", default=None,
                     help="text to look at (default: the probe recorded while training)")
    cmd.add_argument("--step", type=int, default=None,
                     help="the checkpoint (or recorded step) to use (default: the latest)")
    cmd.add_argument("--layer", type=int, default=None, help="one layer, counted from 1")
    cmd.add_argument("--head", type=int, default=None, help="one head of --layer, from 1")
    cmd.add_argument("--top", type=int, default=5, help="next tokens listed (default 5)")
    cmd.add_argument("--task", default=None,
                     help="overlay a synthetic task's ideal pattern (copy, reverse, sort, "
                          "addition, stories) on the PNG, and score each head against it")
    out = cmd.add_mutually_exclusive_group(required=True)
    out.add_argument("--json", action="store_true", help="print JSON")
    out.add_argument("--png", default=None, metavar="FILE", help="write a PNG picture")
    cmd.set_defaults(handler=show_attention)


def show_attention(args: argparse.Namespace) -> int:
    """`attention`: compute the view, then print JSON or write the PNG."""
    from gptstudio.core.attention import head_stats, ideal_mask
    from gptstudio.core.attention.png import grid_rgb, heatmap_rgb, write_png
    from gptstudio.core.attention.run_views import run_attention

    if args.head is not None and args.layer is None:
        raise ConfigError("--head needs --layer (heads are numbered within a layer).")
    if args.top < 1:
        raise ConfigError(f"--top must be at least 1, not {args.top}.")
    result = run_attention(args.run, prompt=args.prompt, step=args.step, top_k=max(args.top, 1))
    maps = result.view.maps
    layer, head = _check_choice(args.layer, args.head, maps.n_layer, maps.n_head)
    ideal = ideal_mask(args.task, maps.tokens, skip_first_line=result.view.cropped > 0) \
        if args.task else None
    stats = head_stats(maps, ideal)
    note = result.view.cropped_note()
    if note:
        print(f"note: {note}", file=sys.stderr)
    if args.png is not None:
        if head is not None:
            picture = heatmap_rgb(maps, layer, head, ideal=ideal)
        else:
            picture = grid_rgb(maps, stats, layers=None if layer is None else [layer])
        write_png(args.png, picture)
        what = "the grid" if layer is None else f"layer {layer + 1}" if head is None else \
            f"layer {layer + 1}, head {head + 1}"
        print(f"wrote {args.png}: {what}, {len(maps.tokens)} tokens, step {result.step:,} "
              f"({_source(result)})")
        return 0
    print(json.dumps(_as_json(result, stats, layer, head, args.top), ensure_ascii=False))
    return 0


def _check_choice(layer: int | None, head: int | None, n_layer: int,
                  n_head: int) -> tuple[int | None, int | None]:
    """1-based choices -> 0-based indices; ConfigError naming the valid range."""
    if layer is not None and not 1 <= layer <= n_layer:
        raise ConfigError(f"--layer must be between 1 and {n_layer} (this model has {n_layer} "
                          "layers).")
    if head is not None and not 1 <= head <= n_head:
        raise ConfigError(f"--head must be between 1 and {n_head} (each layer has {n_head} "
                          "heads).")
    return (None if layer is None else layer - 1), (None if head is None else head - 1)


def _source(result: Any) -> str:
    return "recorded while training" if result.source == "record" else "checkpoint"


def _as_json(result: Any, stats: list, layer: int | None, head: int | None,
             top: int) -> dict[str, Any]:
    view, maps = result.view, result.view.maps
    if head is not None:
        weights: Any = maps.weights[layer][head]
    elif layer is not None:
        weights = maps.weights[layer]
    else:
        weights = [w for w in maps.weights]
    last = len(maps.tokens) - 1
    return {
        "run": str(result.run_dir),
        "source": result.source, "step": result.step, "prompt": result.prompt,
        "tokens": list(maps.tokens), "token_ids": list(maps.token_ids),
        "n_prompt_tokens": view.n_prompt_tokens, "cropped": view.cropped,
        "n_layer": maps.n_layer, "n_head": maps.n_head,
        "layer": None if layer is None else layer + 1, "head": None if head is None else head + 1,
        "heads": [s.to_dict() for s in stats
                  if layer is None or (s.layer == layer and (head is None or s.head == head))],
        "next_tokens": [{"piece": piece, "prob": round(p, 6)}
                        for piece, p in view.next_tokens.at(last)[:top]],
        "weights": _rounded(weights),
    }


def _rounded(weights: Any) -> Any:
    if isinstance(weights, list):
        return [_rounded(w) for w in weights]
    return weights.round(6).tolist()
