"""Fine-tuning, measured: a classifier and an instruction follower from a base pretrained here.

1. The base: a BPE tokenizer (2,048 tokens) and the `tiny` GPT (block 192, enough for every
   record of the book's instruction data) pretrained for `--base-steps` on the fables, Tiny
   Shakespeare and "The Verdict" (not on the instruction data, whose held-out loss we measure).
2. Classification on the shipped `builtin:authors` set (fables / Shakespeare / Wharton): test
   accuracy before fine-tuning (random head) and after, wall time; full fine-tuning of the
   last block (the book's choice), of every block, and LoRA.
3. Instructions on ../shared/data/instruction-data.json (the book's 1,100 records, 85/5/10):
   held-out (test) response loss before and after, the overlap F1 of greedy responses to the
   first `--responses` test records before and after; full fine-tuning against LoRA.
4. LoRA against full fine-tuning at GPT-2 size (the `gpt2` preset, 124M parameters, random
   weights: a step costs the same whatever the values), on batches of the instruction data
   with GPT-2's tokenizer: `--gpt2-steps` steps each, the two alternating `--rounds` times.
For every fine-tune: trainable parameters, seconds per step (median), and the peak resident
memory of its process while it trains (each fine-tune runs in a fresh process; the peak is
reset after the first step, so the step-0 checkpoint's write buffers are not counted), beside
what the process held before the first step (the model, the data, the optimizer's buffers).
The processes run with MALLOC_MMAP_THRESHOLD_=65536: glibc then gives large blocks back at
once, so the peak is what training holds, not heap fragments of batches of many lengths
(without it the resident size of an instruction fine-tune keeps growing by hundreds of MiB).

    .venv/bin/python benchmarks/bench_finetune.py [--base-steps 600] [--out /tmp/bench-ft]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"

CLASSIFY = [  # (name, spec options, train options)
    ("full, last block", {"train_last": 1}, {"learning_rate": 1e-3}),
    ("full, all blocks", {"train_last": None}, {"learning_rate": 3e-4}),
    ("LoRA r=8, all blocks", {"train_last": None, "lora": {"rank": 8, "alpha": 16}},
     {"learning_rate": 1e-3}),
]
INSTRUCT = [
    ("full, all blocks", {"train_last": None}, {"learning_rate": 3e-4}),
    ("LoRA r=16, all blocks", {"train_last": None, "lora": {"rank": 16, "alpha": 32}},
     {"learning_rate": 3e-3}),
]
# The learning rates: the best of a few tried on this base (LoRA classification: 1e-3 of
# 1e-3 / 3e-3 / 1e-2; LoRA instructions: 3e-3 of 1e-3 / 3e-3 / 1e-2); the book's 5e-5 is for
# GPT-2 124M (default_train_config's default).


def memory_kb(key: str) -> int:
    return int(re.search(key + r":\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def pretrain_base(out: Path, n_steps: int, threads: int) -> Path:
    import torch

    from gptstudio.core.corpora import Corpus, load_builtin, read_text_file
    from gptstudio.core.model import from_preset
    from gptstudio.core.pipeline import prepare_new_training
    from gptstudio.core.tokenizers import BPETokenizer
    from gptstudio.core.train import Run, TrainConfig, TrainControl

    run_dir = out / "base"
    if not (Run.exists(run_dir) and Run.open(run_dir).latest_checkpoint() is not None):
        torch.set_num_threads(threads)
        text = "<|endoftext|>".join([load_builtin("fables").text,
                                     read_text_file(SHARED / "tinyshakespeare.txt"),
                                     read_text_file(SHARED / "the-verdict.txt")])
        tokenizer = BPETokenizer.train(text, 2048)
        control = TrainControl()
        config = from_preset("tiny", vocab_size=tokenizer.vocab_size, block_size=192)
        train = TrainConfig(max_steps=n_steps, batch_size=16, learning_rate=1e-3, min_lr=1e-4,
                            warmup_steps=50, eval_interval=max(1, n_steps // 4), eval_iters=20,
                            sample_interval=0, checkpoint_interval=0)
        prepared = prepare_new_training(run_dir, Corpus("pretraining", "memory", text=text),
                                        tokenizer, config, train, control=control)
        for _ in prepared.trainer.events():
            pass
    run = Run.open(run_dir)
    events = run.read_metrics()
    steps = [e for e in events if type(e).__name__ == "StepEvent"]
    evals = [e for e in events if type(e).__name__ == "EvalEvent"]
    print(f"base: tiny GPT (BPE 2048, block 192), {len(steps)} steps "
          f"({steps[-1].elapsed:.0f} s), {steps[-1].tokens_seen:,} tokens seen"
          + (f"; val loss {evals[-1].val_loss:.3f} at step {evals[-1].step}" if evals else ""))
    return run_dir


def child(job: dict) -> dict:
    """One fine-tune in this (fresh) process; its figures as a dict."""
    import torch

    from gptstudio.core.finetune import FinetuneSpec, LoRAConfig, default_train_config
    from gptstudio.core.finetune.classification import split_scores
    from gptstudio.core.finetune.instructions import response_loss, score_responses
    from gptstudio.core.pipeline import prepare_finetune
    from gptstudio.core.train import StepEvent

    torch.set_num_threads(job["threads"])
    options = dict(job["spec"])
    if options.get("lora"):
        options["lora"] = LoRAConfig(**options["lora"])
    spec = FinetuneSpec(job["task"], job["data"], **options)
    config = default_train_config(job["task"], lora=spec.lora is not None, eval_interval=0,
                                  checkpoint_interval=0, **job["train"])
    prepared = prepare_finetune(job["run_dir"], job["base"], spec, config, epochs=job["epochs"],
                                restart=True)
    model, data = prepared.model, prepared.data

    def scores() -> dict:
        if not job.get("score", True):
            return {}
        if job["task"] == "classification":
            s = split_scores(model, data.splits["test"], len(data.labels), batch_size=32)
            return {"test_accuracy": s.accuracy, "test_loss": s.loss}
        report = score_responses(model, prepared.tokenizer, data, limit=job["responses"],
                                 max_new_tokens=64)
        return {"test_response_loss": response_loss(model, data.splits["test"], batch_size=32),
                "overlap_f1": report.mean_overlap_f1}

    before = scores()
    rss_before = memory_kb("VmRSS")
    started = time.perf_counter()
    step_times, peak = [], 0
    for event in prepared.trainer.events():
        if isinstance(event, StepEvent):
            step_times.append(event.step_time)
            peak = max(peak, memory_kb("VmHWM"))
            if event.step == 1:  # from here on: the step-0 checkpoint's buffers are gone
                Path("/proc/self/clear_refs").write_text("5")
                peak = memory_kb("VmRSS")
    wall = time.perf_counter() - started
    return {"before": before, "after": scores(), "wall_s": wall, "steps": len(step_times),
            "step_times": step_times,
            "s_per_step": statistics.median(step_times), "trainable": prepared.n_trainable,
            "params": prepared.summary["n_params"], "peak_mib": peak / 1024,
            "rss_before_mib": rss_before / 1024, "summary": prepared.summary}


def run_child(job: dict) -> dict:
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "65536"}  # see the module docstring
    done = subprocess.run([sys.executable, __file__, "--child", json.dumps(job)],
                          capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        raise SystemExit(f"a fine-tune failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base-steps", type=int, default=600)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench-finetune"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--gpt2-steps", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--classify-epochs", type=float, default=5)
    parser.add_argument("--instruct-epochs", type=float, default=2)
    parser.add_argument("--responses", type=int, default=30)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    args.out.mkdir(parents=True, exist_ok=True)
    base = pretrain_base(args.out, args.base_steps, args.threads)
    common = {"base": str(base), "threads": args.threads, "responses": args.responses}
    rows = []
    for task, data, configs, epochs in (
            ("classification", "builtin:authors", CLASSIFY, args.classify_epochs),
            ("instructions", str(SHARED / "instruction-data.json"), INSTRUCT,
             args.instruct_epochs)):
        for i, (name, spec, train) in enumerate(configs):
            result = run_child({**common, "task": task, "data": data, "spec": spec,
                                "train": train, "epochs": epochs,
                                "run_dir": str(args.out / f"{task}-{i}")})
            rows.append((task, name, train["learning_rate"], result))
            print(line(task, name, train["learning_rate"], result), flush=True)
    s = rows[0][3]["summary"]
    print(f"authors: {s['n_train']} train / {s['n_val']} val / {s['n_test']} test passages, "
          f"{s['max_length']} tokens at most ({s['truncated_train']} training texts cut)")
    gpt2_costs(args)


def gpt2_base(out: Path) -> Path:
    """A run holding a `gpt2`-sized GPT with random weights and GPT-2's tokenizer."""
    import torch

    from gptstudio.core.model import build_model, from_preset
    from gptstudio.core.tokenizers import TiktokenTokenizer
    from gptstudio.core.train import Run, TrainConfig, save_checkpoint

    run_dir = out / "gpt2-base"
    if Run.exists(run_dir):
        return run_dir
    tokenizer = TiktokenTokenizer.from_file(SHARED / "gpt2.tiktoken")
    torch.manual_seed(0)
    model = build_model(from_preset("gpt2"))
    run = Run.create(run_dir, model.config, TrainConfig(max_steps=1, batch_size=1),
                     {"corpus": None}, tokenizer)
    save_checkpoint(run.checkpoints_dir, 0, model, {"imported": True},
                    model_config=model.config.to_dict(),
                    tokenizer_fingerprint=tokenizer.fingerprint())
    return run_dir


def gpt2_costs(args: argparse.Namespace) -> None:
    """LoRA against full fine-tuning of a 124M-parameter GPT (see the module docstring)."""
    base = gpt2_base(args.out)
    methods = {"full, all blocks": {"train_last": None},
               "LoRA r=16, all blocks": {"train_last": None, "lora": {"rank": 16, "alpha": 32}}}
    results: dict[str, list[dict]] = {name: [] for name in methods}
    for round_ in range(args.rounds):
        for i, (name, spec) in enumerate(methods.items()):
            results[name].append(run_child({
                "base": str(base), "threads": args.threads, "responses": 0, "score": False,
                "task": "instructions", "data": str(SHARED / "instruction-data.json"),
                "spec": spec, "epochs": None, "run_dir": str(args.out / f"gpt2-{i}"),
                "train": {"max_steps": args.gpt2_steps, "batch_size": 4, "eval_iters": 1,
                          "learning_rate": 1e-4}}))
    print(f"GPT-2 size (124M, random weights), instruction batches of 4, "
          f"{args.threads} thread(s), {args.rounds} alternating rounds of {args.gpt2_steps} "
          "steps:")
    for name, rs in results.items():
        per_step = statistics.median(t for r in rs for t in r["step_times"][1:])
        print(f"  {name:<22} trainable {rs[0]['trainable']:,} of {rs[0]['params']:,}; "
              f"{per_step:.2f} s/step (median of steps 2+); peak resident "
              f"{statistics.median(r['peak_mib'] for r in rs):.0f} MiB ("
              f"{statistics.median(r['rss_before_mib'] for r in rs):.0f} MiB before step 1)")


def line(task: str, name: str, lr: float, r: dict) -> str:
    b, a = r["before"], r["after"]
    if task == "classification":
        result = f"test accuracy {b['test_accuracy']:.1%} -> {a['test_accuracy']:.1%}"
    else:
        result = (f"test response loss {b['test_response_loss']:.3f} -> "
                  f"{a['test_response_loss']:.3f}, overlap F1 {b['overlap_f1']:.3f} -> "
                  f"{a['overlap_f1']:.3f}")
    return (f"{task:<14} {name:<21} lr {lr:g}: {result}; {r['steps']} steps in "
            f"{r['wall_s']:.0f} s ({r['s_per_step'] * 1000:.0f} ms/step); trainable "
            f"{r['trainable']:,} of {r['params']:,}; peak resident {r['peak_mib']:.0f} MiB "
            f"({r['rss_before_mib']:.0f} before step 1)")


if __name__ == "__main__":
    main()
