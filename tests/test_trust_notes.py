"""The command line says when a damaged newest checkpoint was passed over (train --resume,
sample, eval, export), and names the damage when no checkpoint can be read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gptstudio.cli import main
from gptstudio.core.train import Run
from tests.cli_runs import SMALL, small_cli_run



@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return small_cli_run(tmp_path, steps=4)


def damage_newest(run: Path) -> str:
    newest = Run.open(run).latest_checkpoint()
    assert newest.step == 4
    (newest.path / "model.safetensors").write_bytes(b"\x00" * 40)
    return newest.path.name


def test_sample_eval_export_and_resume_say_which_checkpoint_was_passed_over(
        run_dir: Path, tmp_path: Path, capsys):
    name = damage_newest(run_dir)
    capsys.readouterr()
    commands = [
        ["sample", "--run", str(run_dir), "--prompt", "the ", "--max-new-tokens", "3"],
        ["eval", "--run", str(run_dir), "--max-batches", "1"],
        ["export", "--run", str(run_dir), "--out", str(tmp_path / "hf")],
        ["train", "--run-dir", str(run_dir), "--resume", "--max-steps", "6", "--quiet"],
    ]
    for command in commands:
        assert main(command) == 0, command
        err = capsys.readouterr().err
        assert f"note: The newest checkpoint could not be used ({name}:" in err, command
        assert "so step 2 was loaded" in err, command
    assert Run.open(run_dir).latest_checkpoint().step == 6  # resumed from step 2
    assert main(commands[0]) == 0
    assert "could not be used" not in capsys.readouterr().err  # intact again: nothing to say


def test_a_run_whose_checkpoints_cannot_be_read_names_the_damage(run_dir: Path, capsys):
    for info in Run.open(run_dir).checkpoints():
        (info.path / "meta.json").write_text("{ not json", encoding="utf-8")
    capsys.readouterr()
    assert main(["sample", "--run", str(run_dir), "--prompt", "the "]) == 1
    err = capsys.readouterr().err
    assert "no checkpoint yet" not in err and "meta.json" in err
    assert json.dumps("not json") not in err  # the damaged file is not quoted


def test_a_warmup_longer_than_the_run_is_warned_about(tmp_path: Path, capsys):
    from gptstudio.core.train import TrainConfig
    from gptstudio.core.train.events import WarningEvent

    assert TrainConfig(max_steps=50, warmup_steps=50).warnings() == []
    (message,) = TrainConfig(max_steps=50, warmup_steps=100, learning_rate=2e-3).warnings()
    assert "warmup_steps (100) is more than max_steps (50)" in message and "50%" in message
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat.\n" * 40, encoding="utf-8")
    run = tmp_path / "run"
    assert main(["train", "--corpus", str(corpus), *SMALL, "--set", "warmup_steps=30",
                 "--run-dir", str(run), "--quiet", "--max-steps", "3"]) == 0
    err = capsys.readouterr().err  # shown even with --quiet
    assert "warning at step 0: warmup_steps (30) is more than max_steps (3)" in err
    warned = [e for e in Run.open(run).read_metrics() if isinstance(e, WarningEvent)]
    assert len(warned) == 1 and "Lower warmup_steps" in warned[0].message  # in the run's log


def test_the_quick_look_at_open_names_a_damaged_newest_checkpoint(run_dir: Path):
    from gptstudio.core.train.checkpoint_check import newest_checkpoint_note

    assert newest_checkpoint_note(Run.open(run_dir)) == ""
    newest = Run.open(run_dir).latest_checkpoint()
    weights = newest.path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])  # truncated: the header no longer fits
    note = newest_checkpoint_note(Run.open(run_dir))
    assert note.startswith(f"The newest checkpoint is damaged ({newest.path.name}: ")
    assert note.endswith("uses step-00000002, the newest intact one.")
    for info in Run.open(run_dir).checkpoints():
        (info.path / "state.pt").write_bytes(b"")
    assert newest_checkpoint_note(Run.open(run_dir)).startswith("No checkpoint of this run can")


def test_a_fine_tune_says_so_too(tmp_path: Path, capsys):
    from tests.finetune_runs import base_run, instruction_json

    base = base_run(tmp_path / "base", n_layer=1)
    run = tmp_path / "ins"
    assert main(["finetune", "instruct", "--init-from", str(base), "--data",
                 str(instruction_json(tmp_path / "records.json")), "--run-dir", str(run),
                 "--max-steps", "4", "--set", "checkpoint_interval=2", "--set", "eval_interval=2",
                 "--set", "eval_iters=1", "--set", "batch_size=2", "--responses", "1",
                 "--max-new-tokens", "2", "--quiet"]) == 0
    name = damage_newest(run)
    capsys.readouterr()
    assert main(["sample", "--run", str(run), "--prompt", "Repeat", "--max-new-tokens", "2"]) == 0
    assert f"note: The newest checkpoint could not be used ({name}:" in capsys.readouterr().err
    assert main(["finetune", "instruct", "--run-dir", str(run), "--resume", "--max-steps", "6",
                 "--quiet"]) == 0
    assert "so step 2 was loaded" in capsys.readouterr().err
    assert Run.open(run).latest_checkpoint().step == 6
