"""`gptstudio train --record-attention` and `gptstudio attention`, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gptstudio.cli import main
from gptstudio.core.attention import inspect_prompt, list_records, load_record
from gptstudio.core.pipeline import load_trained_model
from gptstudio.core.train import Run
from tests.test_attention_core import decode_png
from tests.tiny_runs import one_thread  # noqa: F401 - one torch thread here

SMALL = ["--preset", "nano", "--set", "n_layer=2", "--set", "n_embd=32", "--set", "n_head=2",
         "--set", "block_size=32", "--set", "batch_size=4", "--set", "eval_iters=2",
         "--set", "eval_interval=0", "--set", "checkpoint_interval=3",
         "--set", "sample_interval=0", "--set", "warmup_steps=2"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A run of the copy task trained 6 steps with `--record-attention ... --record-every 2`."""
    path = tmp_path_factory.mktemp("cli") / "copy"
    assert main(["train", "--corpus", "builtin:copy", "--tokenizer", "char", *SMALL,
                 "--max-steps", "6", "--run-dir", str(path), "--quiet",
                 "--record-attention", "abcd|abcd", "--record-every", "2"]) == 0
    return path


def test_train_records_the_probe_into_the_run_folder(run_dir):
    records = list_records(Run.open(run_dir).attention_dir)
    assert [r.step for r in records] == [1, 2, 4, 6]
    assert load_record(records[-1].path).prompt == "abcd|abcd"


def test_json_of_a_checkpoint_equals_the_engines_view(run_dir, capsys):
    assert main(["attention", "--run", str(run_dir), "--prompt", "xyz|xyz", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    _, model, tok = load_trained_model(run_dir)
    view = inspect_prompt(model, tok, "xyz|xyz")
    assert out["source"] == "checkpoint" and out["step"] == 6 and out["run"] == str(run_dir)
    assert out["tokens"] == list("xyz|xyz") and out["n_layer"] == 2 and out["n_head"] == 2
    np.testing.assert_allclose(np.array(out["weights"]), np.stack(view.maps.weights),
                               atol=1e-6)
    assert len(out["heads"]) == 4 and {"entropy_bits", "previous", "first", "same", "label"} \
        <= set(out["heads"][0])
    assert [t["piece"] for t in out["next_tokens"]] == list(view.next_tokens.pieces[-1][:5])


def test_json_of_one_head_and_of_a_recorded_step(run_dir, capsys):
    assert main(["attention", "--run", str(run_dir), "--prompt", "xyz|xyz", "--step", "3",
                 "--layer", "2", "--head", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["step"], out["layer"], out["head"]) == (3, 2, 1)
    assert np.array(out["weights"]).shape == (7, 7) and len(out["heads"]) == 1
    assert main(["attention", "--run", str(run_dir), "--step", "4", "--json"]) == 0
    recorded = json.loads(capsys.readouterr().out)
    assert (recorded["source"], recorded["step"], recorded["prompt"]) == ("record", 4,
                                                                          "abcd|abcd")


def test_png_of_the_grid_and_of_one_head(run_dir, tmp_path, capsys):
    grid, head = tmp_path / "grid.png", tmp_path / "head.png"
    assert main(["attention", "--run", str(run_dir), "--prompt", "abc|abc", "--png",
                 str(grid)]) == 0
    assert "wrote" in capsys.readouterr().out
    assert main(["attention", "--run", str(run_dir), "--prompt", "abc|abc", "--layer", "1",
                 "--head", "2", "--task", "copy", "--png", str(head)]) == 0
    for path in (grid, head):
        pixels = decode_png(path.read_bytes())
        assert pixels.shape[0] > 50 and pixels.shape[1] > 50


@pytest.mark.parametrize("args, message", [
    (["--prompt", "ABC"], "'A'"),
    (["--prompt", "abc", "--layer", "3"], "--layer must be between 1 and 2"),
    (["--prompt", "abc", "--head", "1"], "--head needs --layer"),
    (["--prompt", "abc", "--step", "5"], "no checkpoint at step 5"),
    (["--prompt", "abc", "--task", "copy"], "no copy example"),
    (["--prompt", ""], "Type a prompt"),
])
def test_bad_input_is_one_clear_line_and_exit_code_2(run_dir, capsys, args, message):
    assert main(["attention", "--run", str(run_dir), *args, "--json"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_lstm_run_and_a_bad_probe_are_refused_before_training(tmp_path, capsys):
    lstm = tmp_path / "lstm"
    assert main(["train", "--corpus", "builtin:copy", "--arch", "lstm", "--max-steps", "2",
                 "--run-dir", str(lstm), "--quiet", "--record-attention", "abc"]) == 2
    assert "LSTM" in capsys.readouterr().err and not Run.exists(lstm)
    bad = tmp_path / "bad"
    assert main(["train", "--corpus", "builtin:copy", *SMALL, "--max-steps", "2",
                 "--run-dir", str(bad), "--quiet", "--record-attention", "ABC"]) == 2
    assert "'A'" in capsys.readouterr().err and not Run.exists(bad)
    assert main(["train", "--corpus", "builtin:copy", *SMALL, "--run-dir", str(bad),
                 "--record-attention", "abc", "--record-every", "0"]) == 2
    assert "--record-every" in capsys.readouterr().err


def test_a_resumed_run_records_too(tmp_path):
    path = tmp_path / "run"
    assert main(["train", "--corpus", "builtin:copy", *SMALL, "--max-steps", "3",
                 "--run-dir", str(path), "--quiet"]) == 0
    assert main(["train", "--run-dir", str(path), "--resume", "--max-steps", "6", "--quiet",
                 "--record-attention", "ab|ab", "--record-every", "2"]) == 0
    assert [r.step for r in list_records(Run.open(path).attention_dir)] == [4, 6]
