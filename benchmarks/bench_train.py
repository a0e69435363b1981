"""Benchmark: our Trainer vs a plain PyTorch training loop, on tiny Shakespeare (characters).

The classic CPU "baby GPT" run (nanoGPT's shakespeare_char on a laptop): the `tiny` preset
(4 layers, 4 heads, 128 wide, block 64), batch 12, lr 1e-3 with 100 warmup steps and cosine decay
to 1e-4, 2000 steps, dropout 0. Its published result is a validation loss of about 1.88.

Both contenders train the same model (the preset's untied head included) from the same initial
weights, with the same hyperparameters (TrainConfig's defaults: AdamW betas (0.8, 0.999), weight
decay 0.1):
- reference: the loop written the ordinary way: fp32, SDPA attention, `torch.optim.AdamW` with
  its default implementation on all parameters, no compile, gradient clipping at 1.0;
- ours: `Trainer` with its defaults (precision "auto", compile "auto", fused AdamW over flat
  parameter buffers, no decay on biases/norms/embeddings).
This machine is shared, so timings are noisy: the two runs advance in alternating chunks of steps
in one process, so that both see the same load, and only training steps are timed (evaluations,
every 250 steps on 200 batches per split, are not). `--options` adds short interleaved runs of
our trainer with each precision/compile combination, the figures behind "auto".
Both print tokens/s from the total of the timed steps and from the median step. On a shared
2-core machine the 2-thread figures can have slow spells that come from the host: for minutes at
a time the second core is slow to join each parallel op, and a step has a few hundred of them.
One-thread steps do not change in those spells, and OMP_WAIT_POLICY=PASSIVE (worker threads sleep
between ops) reproduces them. They add about the same time to both loops' steps, so the ratio
drops (our steps are the shorter ones). `--threads 1` is free of them. Figures measured so far,
with their dates: docs/MEASUREMENTS.md.

After each comparison, both loops are profiled per op (`step_profile.py`): the top 10 ops by
self time with their share of the step, the share of each kind (matmuls, attention, ...), and
the GFLOP/s achieved over the step and by the matmuls alone: where the rest of the time goes.

Run: .venv/bin/python benchmarks/bench_train.py [--steps 2000] [--threads 2,1] [--options]
Targets: ours >= 2.0x the reference's training tokens/s at 2 threads and at 1; val loss <= 1.88
at 2000 steps.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from step_profile import profile_steps

from gptstudio.core.data import split_tokens
from gptstudio.core.model import build_model, estimate, from_preset
from gptstudio.core.tokenizers import CharTokenizer
from gptstudio.core.train import (
    EvalEvent,
    StepEvent,
    TrainConfig,
    Trainer,
    has_fast_bf16,
    learning_rate_at,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"
REPORT_STEPS = (250, 500, 1000, 2000)
SEED = 1337


def train_config(steps: int, **overrides) -> TrainConfig:
    base = dict(max_steps=steps, batch_size=12, learning_rate=1e-3, min_lr=1e-4,
                warmup_steps=100, eval_interval=250, eval_iters=200, sample_interval=0,
                checkpoint_interval=0, seed=SEED)
    return TrainConfig(**{**base, **overrides})


class ReferenceLoop:
    """A training loop as one would write it in a notebook (nanoGPT's train.py, distilled)."""

    def __init__(self, model_config, train: np.ndarray, val: np.ndarray, cfg: TrainConfig):
        torch.manual_seed(SEED)
        self.model = build_model(model_config)
        self.cfg, self.block = cfg, model_config.block_size
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.learning_rate,
                                           betas=(cfg.beta1, cfg.beta2),
                                           weight_decay=cfg.weight_decay)
        self.data = {"train": torch.from_numpy(train.astype(np.int64)),
                     "val": torch.from_numpy(val.astype(np.int64))}
        self.generator = torch.Generator().manual_seed(SEED)
        self.step = 0

    def get_batch(self, split: str, generator: torch.Generator):
        data = self.data[split]
        ix = torch.randint(len(data) - self.block, (self.cfg.batch_size,), generator=generator)
        x = torch.stack([data[i : i + self.block] for i in ix])
        y = torch.stack([data[i + 1 : i + 1 + self.block] for i in ix])
        return x, y

    def train_step(self) -> float:
        cfg = self.cfg
        lr = learning_rate_at(self.step, peak_lr=cfg.learning_rate, min_lr=cfg.min_lr,
                              warmup_steps=cfg.warmup_steps, decay_steps=cfg.max_steps)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        x, y = self.get_batch("train", self.generator)
        loss = self.model(x, y).loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.step += 1
        return loss.item()

    @torch.no_grad()
    def estimate_val_loss(self) -> float:
        self.model.eval()
        generator = torch.Generator().manual_seed(SEED + 1)
        losses = [self.model(*self.get_batch("val", generator)).loss.item()
                  for _ in range(self.cfg.eval_iters)]
        self.model.train()
        return float(np.mean(losses))


class OurRun:
    """Drives a Trainer's event generator step by step, timing steps apart from evaluations."""

    def __init__(self, model_config, tok, train, val, cfg: TrainConfig):
        torch.manual_seed(SEED)
        self.trainer = Trainer(build_model(model_config), tok, train, val, cfg)
        self.events = self.trainer.events()
        self.step, self.step_seconds, self.val_losses = 0, [], {}

    def advance(self, n_steps: int) -> None:
        target = self.step + n_steps
        while self.step < target:
            started = time.perf_counter()
            event = next(self.events)
            seconds = time.perf_counter() - started
            if isinstance(event, StepEvent):
                self.step = event.step
                self.step_seconds.append(seconds)
            elif isinstance(event, EvalEvent):
                self.val_losses[event.step] = event.val_loss

    def finish(self) -> None:
        for event in self.events:  # the final evaluation and status
            if isinstance(event, EvalEvent):
                self.val_losses[event.step] = event.val_loss


def warm_up(model_config, train, val, tok) -> None:
    """Pay one-time costs (lazy imports, kernel set-up) before anything is timed."""
    cfg = train_config(3, eval_iters=1)
    OurRun(model_config, tok, train, val, cfg).finish()
    ref = ReferenceLoop(model_config, train, val, cfg)
    for _ in range(3):
        ref.train_step()


def compare(model_config, tok, train, val, steps: int, chunk: int) -> None:
    """Both loops for `steps` steps, interleaved in chunks; prints the figures."""
    cfg = train_config(steps)
    ours = OurRun(model_config, tok, train, val, cfg)
    ref = ReferenceLoop(model_config, train, val, cfg)
    ref_seconds, ref_val = [], {}
    report = sorted({s for s in REPORT_STEPS if s <= steps} | {steps})
    done = 0
    while done < steps:
        n = min(chunk, steps - done)
        # Alternate who goes first, so neither always runs right after the other's evals.
        order = ("ours", "ref") if (done // chunk) % 2 == 0 else ("ref", "ours")
        for who in order:
            if who == "ours":
                ours.advance(n)
                continue
            for _ in range(n):
                started = time.perf_counter()
                ref.train_step()
                ref_seconds.append(time.perf_counter() - started)
                if ref.step in report:
                    ref_val[ref.step] = ref.estimate_val_loss()
        done += n
        print(f"  ... step {done}/{steps}", flush=True)
    ours.finish()

    tokens = cfg.batch_size * model_config.block_size
    ref_tps, our_tps = tokens * steps / sum(ref_seconds), tokens * steps / sum(ours.step_seconds)
    t = ours.trainer
    print(f"\nours: precision {cfg.precision} -> {t.precision}, compile {cfg.compile} -> "
          f"{'on' if t.compiled else 'off'}, "
          f"{type(t.optimizer).__name__} fused={t.optimizer.defaults.get('fused')}")
    print(f"{'':24s}{'reference':>12s}{'ours':>12s}")
    print(f"{'tokens/s (training)':24s}{ref_tps:12,.0f}{our_tps:12,.0f}    ratio "
          f"{our_tps / ref_tps:.2f}x  (target >= 2.0x)")
    ref_med = tokens / statistics.median(ref_seconds)
    our_med = tokens / statistics.median(ours.step_seconds)
    print(f"{'tokens/s (median step)':24s}{ref_med:12,.0f}{our_med:12,.0f}    ratio "
          f"{our_med / ref_med:.2f}x  (the typical step, without the machine's slow moments)")
    flops = estimate(model_config, cfg.batch_size).flops_per_token
    print(f"{'GFLOP/s (model FLOPs)':24s}{ref_tps * flops / 1e9:12.1f}{our_tps * flops / 1e9:12.1f}"
          f"    ({flops / 1e6:.2f} MFLOP a token: 6 per matmul weight + attention)")
    print(f"{'training time (s)':24s}{sum(ref_seconds):12.1f}{sum(ours.step_seconds):12.1f}")
    for s in report:
        note = "  (target <= 1.88)" if s == 2000 else ""
        print(f"{'val loss @ ' + str(s):24s}{ref_val.get(s, math.nan):12.4f}"
              f"{ours.val_losses.get(s, math.nan):12.4f}{note}")


def profile_both(model_config, tok, train, val, n_steps: int) -> None:
    """Per-op profiles of both loops (fresh runs, after 10 unprofiled steps)."""
    cfg = train_config(10_000, eval_interval=0)
    runs = {"reference loop": ReferenceLoop(model_config, train, val, cfg).train_step}
    ours = OurRun(model_config, tok, train, val, cfg)
    runs["ours"] = lambda: ours.advance(1)
    for step in runs.values():
        for _ in range(10):
            step()
    flops = estimate(model_config, cfg.batch_size).flops_per_token
    tokens = cfg.batch_size * model_config.block_size
    print(f"\nper-op profile, {n_steps} steps each (self time of each op per step, its share of "
          "the step):")
    for name, step in runs.items():
        prof = profile_steps(step, n_steps)
        matmul_ms = prof.by_category().get("matmul", math.nan)
        print(prof.summary(name))
        matmul_rate = matmul_flops(model_config, tokens) / matmul_ms / 1e6
        print(f"  {tokens * flops / prof.step_ms / 1e6:.0f} GFLOP/s over the step; the matmuls "
              f"alone ({matmul_ms:.1f} ms) at {matmul_rate:.0f} GFLOP/s")
        if name == "reference loop":
            ref_ms = prof.step_ms
    ceiling = matmul_ceiling(model_config, tokens)
    floor_ms = matmul_flops(model_config, tokens) / ceiling / 1e6
    print(f"the same matmuls in isolation: {ceiling:.0f} GFLOP/s, so a step whose matmuls all ran "
          f"at that rate and did nothing else would take {floor_ms:.1f} ms: at most "
          f"{ref_ms / floor_ms:.2f}x the reference's profiled step of {ref_ms:.1f} ms")


def matmul_ceiling(model_config, tokens: int, repeats: int = 30) -> float:
    """GFLOP/s of this CPU's fp32 matmuls at the step's own shapes, in isolation (best of
    `repeats` passes over every linear layer's forward product, operands warm in the cache)."""
    c = model_config
    shapes = [(c.n_embd, 3 * c.n_embd), (c.n_embd, c.n_embd), (c.n_embd, 4 * c.n_embd),
              (4 * c.n_embd, c.n_embd), (c.n_embd, c.vocab_size)]
    operands = [(torch.randn(tokens, k), torch.randn(k, n)) for k, n in shapes]
    flops = sum(2 * tokens * k * n for k, n in shapes)
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        for a, b in operands:
            a @ b
        best = min(best, time.perf_counter() - started)
    return flops / best / 1e9


def matmul_flops(model_config, tokens: int) -> float:
    """FLOPs of a step's linear layers (forward and backward: 6 per weight and token)."""
    c = model_config
    per_layer = 12 * c.n_embd * c.n_embd  # c_attn 3C^2 + c_proj C^2 + the MLP 8C^2
    return 6 * tokens * (c.n_layer * per_layer + c.n_embd * c.vocab_size)


def compare_options(model_config, tok, train, val, steps: int, chunk: int) -> None:
    """Our trainer under each precision/compile setting, interleaved; first step timed apart."""
    variants = [("fp32", "off"), ("bf16", "off"), ("fp32", "on"), ("bf16", "on")]
    runs = {}
    for key in variants:
        cfg = train_config(steps, precision=key[0], compile=key[1], eval_interval=0,
                           eval_iters=1)
        runs[key] = (OurRun(model_config, tok, train, val, cfg), 0.0)
        started = time.perf_counter()
        runs[key][0].advance(1)  # includes compiling, if any
        runs[key] = (runs[key][0], time.perf_counter() - started)
    done = 1
    while done < steps:
        n = min(chunk, steps - done)
        for key in (variants if (done // chunk) % 2 == 0 else variants[::-1]):
            runs[key][0].advance(n)
        done += n
    tokens = 12 * model_config.block_size
    base = None
    print(f"\nour trainer, {steps} steps each, interleaved in chunks of {chunk} "
          "(first step, which compiles, timed apart):")
    for key, (run, first) in runs.items():
        tps = tokens / statistics.median(run.step_seconds[1:])
        base = base or tps
        print(f"  precision {key[0]:5s} compile {key[1]:4s} {tps:10,.0f} tokens/s (median step)"
              f"  x{tps / base:.2f}   first step {first:6.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=50, help="steps per turn when interleaving")
    parser.add_argument("--threads", default=None,
                        help="torch intra-op threads; a list (\"2,1\") compares at each in turn")
    parser.add_argument("--profile-steps", type=int, default=40,
                        help="steps of each loop profiled per op after the comparison (0: none)")
    parser.add_argument("--options", action="store_true",
                        help="also compare precision/compile settings of our trainer")
    parser.add_argument("--option-steps", type=int, default=150)
    args = parser.parse_args()
    thread_counts = [int(n) for n in args.threads.split(",")] if args.threads else [None]
    if thread_counts[0]:
        torch.set_num_threads(thread_counts[0])

    text = DATA.read_text(encoding="utf-8")
    tok = CharTokenizer.from_text(text)
    ids = np.array(tok.encode(text), dtype=np.uint16)
    train, val = split_tokens(ids, 0.1)
    model_config = from_preset("tiny", vocab_size=tok.vocab_size)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    print(f"bench_train: {DATA.name}, character level ({tok.vocab_size} tokens), `tiny` preset "
          f"({model_config.n_layer} layers, {model_config.n_head} heads, {model_config.n_embd} "
          f"wide, block {model_config.block_size})")
    print(f"batch 12, lr 1e-3 -> 1e-4, warmup 100, {args.steps} steps, eval 200 batches/split "
          f"every 250 steps; {len(train):,} train / {len(val):,} val tokens")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, native bf16: "
          f"{has_fast_bf16(torch.device('cpu'))}, load average at start {load:.2f} "
          "(shared machine: other processes compete for the CPU)")
    warm_up(model_config, train, val, tok)
    for threads in thread_counts:
        if threads:
            torch.set_num_threads(threads)
            print(f"\n=== {threads} torch thread{'s' if threads > 1 else ''} ===")
        compare(model_config, tok, train, val, args.steps, args.chunk)
        if args.profile_steps:
            profile_both(model_config, tok, train, val, args.profile_steps)
    if args.options:
        compare_options(model_config, tok, train, val, args.option_steps, 10)
    print(f"load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
