"""Distributed training on CPUs (gloo): two processes train like one with their two batches.

The oracle: with DDP, each rank computes the gradient of its own batch and the ranks average
them, so two ranks with batches A and B take exactly the step that one process takes on the
batch A + B (the mean loss over both halves). The one-process run here draws the very batches
the two ranks draw (rank r's stream is seeded seed + r) and concatenates them, so the weights
after N steps must agree to float rounding. With gradient accumulation the ranks skip the sync
on the first micro-batch (`no_sync`); were it skipped on the last, the ranks' weights would
drift apart and away from the oracle. The command-line test launches `gptstudio train` with
PyTorch's launcher (torchrun), resumes that run in one process and a one-process run on two.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gptstudio.core.data import RandomBatcher
from gptstudio.core.model import GPTConfig, build_model
from gptstudio.core.train import StepEvent, TrainConfig, Trainer
from gptstudio.core.train.distributed import (
    any_rank,
    barrier,
    launched_by_torchrun,
    main_process_first,
    mean_across_ranks,
    shutdown,
)
from gptstudio.core.train.evaluation import SplitEvaluator
from gptstudio.core.train.task import TrainTask
from tests.tiny_runs import word_salad_splits

WORDS = ["the", "cat", "sat", "on", "mat", "a", "dog", "ran", "far", "away"]
SEED = 1337
CONFIG = dict(max_steps=6, batch_size=4, grad_accum=2, learning_rate=3e-3, min_lr=3e-4,
              warmup_steps=2, eval_interval=3, eval_iters=2, sample_interval=0,
              checkpoint_interval=0, precision="fp32", compile="off", device="cpu", seed=SEED)


def data():
    return word_salad_splits(WORDS, seed=0, n_words=2000)


def tiny_model(vocab_size: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(GPTConfig(vocab_size, block_size=16, n_layer=2, n_head=2, n_embd=32))


def _rank_main(rank: int, world_size: int, init_file: str, out_dir: str) -> None:
    """One rank of the spawned run: train, then save what the test compares."""
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank,
                                         world_size=world_size)
    try:
        tok, train, val = data()
        model = tiny_model(tok.vocab_size)
        trainer = Trainer(model, tok, train, val, TrainConfig(**CONFIG))
        wrapped = type(trainer._train_model).__name__
        events = list(trainer.events())
        own_eval = trainer.evaluator(model)["val"].loss  # this rank's batches only
        torch.save({
            "wrapped": wrapped,
            "losses": [e.loss for e in events if isinstance(e, StepEvent)],
            "val": [e.val_loss for e in events if type(e).__name__ == "EvalEvent"],
            "own_val": own_eval,
            "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        }, Path(out_dir) / f"rank{rank}.pt")
        del trainer, model, events
    finally:
        shutdown()  # the DDP model is gone (PITFALLS: else gloo may crash at exit)


class BothRanksBatches:
    """The batches of ranks 0 and 1 (streams seeded seed and seed + 1), as one batch."""

    def __init__(self, tokens: np.ndarray, block_size: int, batch_size: int, seed: int) -> None:
        self.streams = [RandomBatcher(tokens, block_size, batch_size, seed=seed + r)
                        for r in range(2)]

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [s.next_batch() for s in self.streams]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def state_dict(self) -> dict:
        return {"streams": [s.state_dict() for s in self.streams]}

    def load_state_dict(self, state: dict) -> None:
        for s, d in zip(self.streams, state["streams"]):
            s.load_state_dict(d)


@pytest.mark.slow  # two fresh interpreters importing torch: 15-30 s on a small machine
def test_two_gloo_ranks_take_the_step_of_one_process_on_both_batches(tmp_path):
    torch.multiprocessing.spawn(_rank_main, args=(2, str(tmp_path / "pg"), str(tmp_path)),
                                nprocs=2, join=True)  # raises if a rank failed or crashed
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in range(2)]
    assert ranks[0]["wrapped"] == "DistributedDataParallel"

    tok, train, val = data()
    model = tiny_model(tok.vocab_size)
    config = TrainConfig(**CONFIG)
    task = TrainTask(batches=BothRanksBatches(train, 16, config.batch_size, SEED),
                     evaluator=SplitEvaluator(tok, {"train": train, "val": val}, block_size=16,
                                              batch_size=4, iters=2, seed=0))
    oracle = Trainer(model, tok, None, None, config, task=task)
    oracle_losses = [e.loss for e in oracle.events() if isinstance(e, StepEvent)]

    # The weights: identical on both ranks (one averaged step each time), and the oracle's.
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(ranks[1]["state"][name], ranks[0]["state"][name],
                                   rtol=0, atol=0)
        torch.testing.assert_close(ranks[0]["state"][name], tensor, rtol=1e-4, atol=2e-5)
    # Each rank reports its own batches' loss; their mean is the one-process loss.
    mean_loss = (np.array(ranks[0]["losses"]) + np.array(ranks[1]["losses"])) / 2
    np.testing.assert_allclose(mean_loss, oracle_losses, rtol=1e-5)
    # Evaluation losses are averaged over the ranks: every rank reports the same figures.
    assert ranks[0]["val"] == ranks[1]["val"] and len(ranks[0]["val"]) == 2
    assert ranks[0]["val"][-1] == pytest.approx((ranks[0]["own_val"] + ranks[1]["own_val"]) / 2)


def test_without_a_process_group_the_helpers_are_one_process():
    cpu = torch.device("cpu")
    assert mean_across_ranks([1.5, 2.0], cpu) == [1.5, 2.0]
    assert any_rank(True, cpu) and not any_rank(False, cpu)
    barrier()
    with main_process_first():
        pass


def test_torchrun_is_recognised_by_its_environment(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert not launched_by_torchrun()
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert launched_by_torchrun()


# --- the command line under torchrun ----------------------------------------------------------

TINY = ["--set", "n_layer=1", "--set", "n_embd=32", "--set", "n_head=2", "--set",
        "block_size=32", "--set", "learning_rate=3e-3", "--set", "warmup_steps=5", "--set",
        "eval_iters=4", "--set", "sample_interval=0", "--device", "cpu", "--quiet"]
LOSS_TOLERANCE = 0.1  # nats: two runs of the same global batch, on different random windows


def _gptstudio(args: list[str], env: dict[str, str], torchrun: bool = False, timeout=240):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node=2"] if torchrun else [sys.executable]
    return subprocess.run([*launcher, "-m", "gptstudio", "train", *args], env=env,
                          capture_output=True, text=True, timeout=timeout)


def _evals(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [d for d in map(json.loads, lines) if d["event"] == "eval"]


@pytest.mark.slow
def test_torchrun_trains_like_one_process_then_resumes_in_one(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}
    ddp, single = tmp_path / "ddp", tmp_path / "single"
    common = [*TINY, "--max-steps", "40", "--set", "eval_interval=20"]
    done = _gptstudio(["--run-dir", str(ddp), "--set", "batch_size=4", *common], env,
                      torchrun=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "SIGABRT" not in done.stderr
    one = _gptstudio(["--run-dir", str(single), "--set", "batch_size=8", *common], env)
    assert one.returncode == 0, one.stderr[-3000:]

    # Rank 0 alone wrote the log: each step once.
    lines = [json.loads(x) for x in (ddp / "metrics.jsonl").read_text().splitlines()]
    steps = [d for d in lines if d["event"] == "step"]
    assert [d["step"] for d in steps] == list(range(1, 41))
    assert lines[-1]["state"] == "finished"
    # Global batch 2 x 4 vs 1 x 8: both learn, to about the same loss.
    ddp_evals, single_evals = _evals(ddp), _evals(single)
    assert ddp_evals[-1]["val_loss"] < steps[0]["loss"] - 0.5
    assert abs(ddp_evals[-1]["val_loss"] - single_evals[-1]["val_loss"]) < LOSS_TOLERANCE

    # The two-rank run resumes in one process, from rank 0's data position.
    resumed = _gptstudio(["--run-dir", str(ddp), "--resume", "--max-steps", "50", "--quiet"],
                         env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    lines = [json.loads(x) for x in (ddp / "metrics.jsonl").read_text().splitlines()]
    assert [d["step"] for d in lines if d["event"] == "step"][-10:] == list(range(41, 51))
    assert lines[-1]["state"] == "finished"
    # ... and the one-process run resumes on two ranks (rank 1 re-seeded from the step).
    more = _gptstudio(["--run-dir", str(single), "--resume", "--max-steps", "45", "--quiet"],
                      env, torchrun=True)
    assert more.returncode == 0, more.stderr[-3000:]
    lines = [json.loads(x) for x in (single / "metrics.jsonl").read_text().splitlines()]
    assert [d["step"] for d in lines if d["event"] == "step"][-5:] == list(range(41, 46))
    assert lines[-1]["state"] == "finished"
