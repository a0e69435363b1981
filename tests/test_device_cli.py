"""`--device` on the command line: recorded by train, changed on resume, used by sample and eval;
an absent device is a usage error that says what to use instead."""

from __future__ import annotations

import json

import pytest
import torch

from gptstudio.cli import main
from gptstudio.core.train import Run
from tests.tiny_runs import one_thread  # noqa: F401

TINY = ["--set", "n_layer=1", "--set", "n_embd=16", "--set", "n_head=2", "--set",
        "block_size=16", "--set", "batch_size=4", "--set", "eval_iters=1", "--set",
        "sample_interval=0", "--quiet"]


@pytest.fixture()
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def test_device_is_recorded_changed_on_resume_and_used_to_sample(tmp_path, capsys, no_gpu):
    run_dir = tmp_path / "run"
    assert main(["train", "--run-dir", str(run_dir), "--max-steps", "3", "--device", "cpu",
                 *TINY]) == 0
    assert Run.open(run_dir).train_config.device == "cpu"
    first = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[0])
    assert "on CPU" in first["message"]  # the device really used, in the run's own log

    # A run set to "cuda" (say, trained on a GPU box) resumes here once told --device cpu.
    run = Run.open(run_dir)
    run.save_train_config(run.train_config.replace(device="cuda"))
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--max-steps", "4",
                 "--quiet"]) == 2
    assert "CUDA GPU was asked for (cuda)" in capsys.readouterr().err
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--max-steps", "4",
                 "--device", "cpu", "--quiet"]) == 0
    assert Run.open(run_dir).train_config.device == "cpu"
    assert Run.open(run_dir).latest_checkpoint().step == 4

    capsys.readouterr()
    assert main(["sample", "--run", str(run_dir), "--device", "cpu", "--max-new-tokens", "5",
                 "--seed", "0"]) == 0
    assert capsys.readouterr().out.strip()
    assert main(["eval", "--run", str(run_dir), "--device", "cpu", "--json",
                 "--max-batches", "1"]) == 0
    assert json.loads(capsys.readouterr().out)["loss"] > 0
    for command in (["sample", "--run", str(run_dir)], ["eval", "--run", str(run_dir)]):
        assert main([*command, "--device", "cuda:1"]) == 2
        assert "use --device cpu or auto" in capsys.readouterr().err


def test_a_bad_device_is_refused_before_anything_is_written(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", "--run-dir", str(run_dir), "--max-steps", "2", "--device", "gpu",
                 *TINY]) == 2
    assert "device must be auto, cpu, cuda, cuda:N or mps" in capsys.readouterr().err
    assert not Run.exists(run_dir)
