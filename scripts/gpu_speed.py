"""Training speed of a finished run: tokens per second and model FLOPs utilisation (MFU).

    python3 scripts/gpu_speed.py RUN_DIR [--skip N] [--gpu-name NAME]

Reads the run's metrics.jsonl (its step events) and model config. Tokens/s is the median over
the steps after the first N (default: the first 20%, which hold torch.compile's warm-up); MFU
is tokens/s x the model's training FLOPs per token (6 per matmul weight plus attention,
`gptstudio.core.model.estimate`) over the GPU's dense bf16 peak, from the table below (the
vendors' data-sheet figures, without sparsity). A GPU not in the table prints "peak unknown".
Prints one line; exit code 1 if the run has no step events. Used by scripts/gpu_check.sh.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

# Dense bf16 tensor-core peak, TFLOP/s, by a piece of torch.cuda.get_device_name(); the first
# match wins, so the more specific names come first.
BF16_PEAK_TFLOPS = (
    ("GH200", 989.0),
    ("H200", 989.0),
    ("H100 NVL", 835.0),
    ("H100 PCIe", 756.0),
    ("H100", 989.0),  # SXM (e.g. "NVIDIA H100 80GB HBM3")
    ("H800", 989.0),
    ("B200", 2250.0),
    ("A100", 312.0),
    ("A800", 312.0),
    ("L40S", 362.0),
    ("L40", 181.0),
    ("L4", 121.0),
    ("A10G", 70.0),
    ("A10", 125.0),
    ("RTX 4090", 165.0),
    ("RTX 3090", 71.0),
)


def bf16_peak(gpu_name: str) -> float | None:
    """The dense bf16 peak of `gpu_name` in TFLOP/s, or None if it is not in the table."""
    for piece, peak in BF16_PEAK_TFLOPS:
        if piece.lower() in gpu_name.lower():
            return peak
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--skip", type=int, default=None,
                        help="steps left out at the start (default: the first 20%%)")
    parser.add_argument("--gpu-name", default=None,
                        help="the GPU's name (default: torch.cuda.get_device_name(0))")
    args = parser.parse_args(argv)

    from gptstudio.core.model import estimate
    from gptstudio.core.train import Run

    run = Run.open(args.run_dir)
    lines = (Path(args.run_dir) / "metrics.jsonl").read_text().splitlines()
    steps = [d for d in map(json.loads, lines) if d.get("event") == "step" and not d["skipped"]]
    if not steps:
        print("no training steps in the run", file=sys.stderr)
        return 1
    skip = len(steps) // 5 if args.skip is None else args.skip
    measured = steps[skip:] or steps[-1:]
    tokens_per_s = statistics.median(d["tokens_per_sec"] for d in measured)
    flops_per_token = estimate(run.model_config()).flops_per_token
    achieved = tokens_per_s * flops_per_token / 1e12  # TFLOP/s
    name = args.gpu_name
    if name is None:
        import torch

        name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    peak = bf16_peak(name)
    mfu = (f"MFU {100 * achieved / peak:.1f}% of {peak:g} TFLOP/s dense bf16 ({name})"
           if peak else f"MFU: bf16 peak unknown for {name}")
    print(f"{tokens_per_s:,.0f} tokens/s (median of steps {measured[0]['step']}-"
          f"{measured[-1]['step']}), {achieved:.1f} TFLOP/s, {mfu}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
