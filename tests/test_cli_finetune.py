"""`gptstudio finetune classify | instruct` and `gptstudio classify`, end to end, as a user runs
them: the reports they print, the files they leave, resume, and bad input as one clear line."""

from __future__ import annotations

import json

import pytest

from gptstudio.cli import main
from gptstudio.core.train import Run, StepEvent
from tests.finetune_runs import base_run, instruction_json, separable_tsv
from tests.tiny_runs import one_thread  # noqa: F401 - one_thread is active here

QUICK = ["--set", "eval_interval=10", "--set", "eval_iters=2", "--set", "batch_size=4",
         "--set", "learning_rate=3e-3", "--set", "checkpoint_interval=10", "--quiet"]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return base_run(tmp_path_factory.mktemp("base") / "base")


def steps(run_dir):
    return [e.step for e in Run.open(run_dir).read_metrics() if isinstance(e, StepEvent)]


def test_finetune_classify_then_classify_texts(base, tmp_path, capsys):
    data = separable_tsv(tmp_path / "words.tsv")
    run_dir = tmp_path / "clf"
    assert main(["finetune", "classify", "--init-from", str(base), "--data", str(data),
                 "--run-dir", str(run_dir), "--train-last", "all", "--pooling", "mean",
                 "--max-steps", "60", *QUICK]) == 0
    out = capsys.readouterr().out
    assert "accuracy: train" in out and "test confusion (rows: true, columns: predicted)" in out
    test_accuracy = float(out.split("test ")[1].split("%")[0])
    assert test_accuracy >= 95.0
    assert steps(run_dir) == list(range(1, 61))

    assert main(["classify", "--run", str(run_dir), "--json", "abc dbe", "xyz wvu"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["label"] for line in lines] == ["early", "late"]
    assert sum(lines[0]["probabilities"].values()) == pytest.approx(1.0)

    # More steps later: the same run goes on from its last checkpoint.
    assert main(["finetune", "classify", "--run-dir", str(run_dir), "--resume",
                 "--max-steps", "70", "--quiet"]) == 0
    assert steps(run_dir)[-10:] == list(range(61, 71))


def test_finetune_instruct_with_lora_saves_the_adapter_and_the_responses(base, tmp_path,
                                                                        capsys):
    data = instruction_json(tmp_path / "records.json")
    run_dir = tmp_path / "ins"
    assert main(["finetune", "instruct", "--init-from", str(base), "--data", str(data),
                 "--run-dir", str(run_dir), "--lora-rank", "4", "--max-steps", "10",
                 "--responses", "2", "--max-new-tokens", "8", *QUICK]) == 0
    out = capsys.readouterr().out
    assert "held-out response loss" in out and "over 2 records" in out
    run = Run.open(run_dir)
    assert run.adapter_path.is_file()
    saved = json.loads(run.responses_path.read_text(encoding="utf-8"))
    assert [set(r) for r in saved["responses"]] == [
        {"instruction", "input", "reference", "response", "overlap_f1"}] * 2
    assert run.data_config["finetune"]["lora"]["rank"] == 4
    assert run.data_config["finetune"]["lora"]["alpha"] == 8.0  # 2 x rank by default
    assert main(["sample", "--run", str(run_dir), "--prompt", "Repeat", "--max-new-tokens",
                 "5", "--seed", "0"]) == 0  # sampled with the adapter merged
    assert main(["export", "--run", str(run_dir), "--out", str(tmp_path / "hf")]) == 0
    assert (tmp_path / "hf" / "model.safetensors").is_file()


@pytest.mark.parametrize("args, message", [
    (["finetune", "classify", "--run-dir", "R"], "needs a base run (--init-from)"),
    (["finetune", "classify", "--init-from", "BASE", "--data", "DATA:bad.tsv", "--run-dir",
      "R"], "bad.tsv, line 2: no tab"),
    (["finetune", "instruct", "--init-from", "BASE", "--data", "DATA:bad.json", "--run-dir",
      "R"], "bad.json, line 2, column"),
    (["finetune", "classify", "--init-from", "BASE", "--data", "DATA:one.tsv", "--run-dir",
      "R"], "one class only"),
    (["finetune", "classify", "--init-from", "BASE", "--data", "DATA:ok.tsv", "--run-dir", "R",
      "--lora-rank", "999"], "rank of 999 is larger than the layer"),
    (["finetune", "classify", "--init-from", "BASE", "--data", "DATA:ok.tsv", "--run-dir", "R",
      "--train-last", "two"], "--train-last takes a number"),
    (["finetune", "classify", "--init-from", "BASE", "--data", "DATA:ok.tsv", "--run-dir", "R",
      "--max-length", "9999"], "longer than the base model's context"),
    (["classify", "--run", "BASE", "hello"], "not a fine-tune"),
])
def test_bad_input_is_one_clear_line_and_leaves_nothing(base, tmp_path, capsys, args, message):
    files = {"bad.tsv": "ham\thi\nspam hello\n", "one.tsv": "ham\thi\nham\tho\n",
             "bad.json": '[\n{"instruction": "a" "output": "b"}]',
             "ok.tsv": "a\tabc abc\na\tcab\nb\txyz zz\nb\tzyx\n" * 3}
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    argv = [str(tmp_path / a[5:]) if a.startswith("DATA:") else
            str(base) if a == "BASE" else str(tmp_path / "run") if a == "R" else a
            for a in args]
    runtime = message in ("bad.tsv, line 2: no tab", "bad.json, line 2, column",
                          "one class only", "not a fine-tune")  # the data or run is wrong
    assert main(argv) == (1 if runtime else 2)  # else the command line is
    err = capsys.readouterr().err
    assert err.startswith("gptstudio: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "run").exists()
