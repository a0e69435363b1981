"""`gptstudio train|sample|eval|export|import-gpt2` end to end, as a user runs them."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from gptstudio.cli import main
from gptstudio.core.train import Run, TrainControl
from gptstudio.core.train.events import StepEvent

# A model small enough that a few steps take well under a second.
SMALL = ["--preset", "nano", "--set", "n_layer=1", "--set", "n_embd=32", "--set", "n_head=2",
         "--set", "block_size=32", "--set", "batch_size=4", "--set", "eval_iters=2",
         "--set", "eval_interval=3", "--set", "checkpoint_interval=3", "--set", "sample_interval=0",
         "--set", "warmup_steps=2"]


def child_env() -> dict:
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("the cat sat on the mat. the dog sat on the log.\n" * 80, encoding="utf-8")
    return path


def train(run_dir: Path, corpus: Path, *extra: str) -> int:
    return main(["train", "--corpus", str(corpus), "--tokenizer", "char", *SMALL,
                 "--run-dir", str(run_dir), "--quiet", *extra])


def losses(run_dir: Path) -> list[float]:
    return [e.loss for e in Run.open(run_dir).read_metrics() if isinstance(e, StepEvent)]


def test_train_then_resume_continues_the_same_run(tmp_path: Path, corpus_file: Path):
    # The schedule's length is fixed (lr_decay_steps), so a run extended from 6 to 9 steps
    # follows the same learning rates as one planned for 9 from the start.
    run_dir = tmp_path / "run"
    assert train(run_dir, corpus_file, "--max-steps", "6", "--set", "lr_decay_steps=9") == 0
    run = Run.open(run_dir)
    assert run.latest_checkpoint().step == 6
    assert len(losses(run_dir)) == 6
    # Resume up to 9: three more steps, appended to the same metrics.
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--max-steps", "9",
                 "--quiet"]) == 0
    assert Run.open(run_dir).latest_checkpoint().step == 9
    assert len(losses(run_dir)) == 9
    # The resumed steps equal an uninterrupted run's steps, bit for bit.
    straight = tmp_path / "straight"
    assert train(straight, corpus_file, "--max-steps", "9", "--set", "lr_decay_steps=9") == 0
    assert losses(straight) == losses(run_dir)


def test_sample_eval_export_import(tmp_path: Path, corpus_file: Path, capsys):
    run_dir = tmp_path / "run"
    assert train(run_dir, corpus_file, "--max-steps", "3") == 0
    capsys.readouterr()
    # Greedy sampling is deterministic and prints only the text.
    args = ["sample", "--run", str(run_dir), "--prompt", "the ", "--max-new-tokens", "12",
            "--temperature", "0"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    assert capsys.readouterr().out == first and len(first.rstrip("\n")) > 0

    assert main(["eval", "--run", str(run_dir), "--json", "--max-batches", "2"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["split"] == "val" and figures["loss"] > 0
    assert figures["perplexity"] == pytest.approx(float(torch.tensor(figures["loss"]).exp()))

    out = tmp_path / "hf"
    assert main(["export", "--run", str(run_dir), "--format", "hf", "--out", str(out)]) == 0
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    capsys.readouterr()
    # The exported weights come back through import-gpt2 into a new run with the same logits.
    tok = Run.open(run_dir).tokenizer_path
    imported = tmp_path / "imported"
    assert main(["import-gpt2", str(out / "model.safetensors"), "--run-dir", str(imported),
                 "--tokenizer", str(tok)]) == 0
    assert main(["sample", "--run", str(imported), "--prompt", "the ", "--max-new-tokens", "12",
                 "--temperature", "0"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == first.splitlines()[-1]
    # An imported run has no corpus of its own: eval asks for one, then works with it.
    assert main(["eval", "--run", str(imported)]) == 2
    assert "--corpus" in capsys.readouterr().err
    assert main(["eval", "--run", str(imported), "--corpus", str(corpus_file), "--json",
                 "--max-batches", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["split"] == "corpus"


@pytest.mark.parametrize("extra, needle", [
    (["--set", "n_head=3"], "n_head"),
    (["--set", "no_such_setting=1"], "no_such_setting"),
    (["--set", "learning_rate=-1"], "learning_rate"),
    (["--preset", "enormous"], "enormous"),
])
def test_impossible_settings_are_one_line_errors(tmp_path: Path, corpus_file: Path, extra,
                                                 needle):
    result = subprocess.run(
        [sys.executable, "-m", "gptstudio", "train", "--corpus", str(corpus_file), *SMALL,
         "--max-steps", "2", "--run-dir", str(tmp_path / "run"), *extra],
        capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in result.stderr
    assert not Run.exists(tmp_path / "run")


def test_existing_run_needs_resume_and_empty_corpus_is_refused(tmp_path: Path,
                                                               corpus_file: Path, capsys):
    run_dir = tmp_path / "run"
    assert train(run_dir, corpus_file, "--max-steps", "3") == 0
    assert train(run_dir, corpus_file, "--max-steps", "3") == 1  # a runtime failure
    err = capsys.readouterr().err
    assert "--resume" in err and "--restart" in err
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    assert train(tmp_path / "run2", empty, "--max-steps", "3") == 1  # a runtime failure
    assert "empty.txt" in capsys.readouterr().err
    assert main(["sample", "--run", str(tmp_path / "nothing")]) == 1  # a runtime failure


class Child:
    """`gptstudio train` in a child process, its stderr read line by line by a thread (so a
    test can wait for a line, with a generous safety limit instead of sleeping)."""

    def __init__(self, run_dir: Path, corpus: Path) -> None:
        args = [sys.executable, "-m", "gptstudio", "train", "--corpus", str(corpus), *SMALL,
                "--set", "checkpoint_interval=0", "--max-steps", "100000",
                "--run-dir", str(run_dir)]
        self.process = subprocess.Popen(args, stderr=subprocess.PIPE, text=True,
                                        env=child_env())
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self._queue.put(line)
        self._queue.put(None)  # end of output

    def wait_for(self, needle: str) -> str:
        """The next line holding `needle` (fails if the child ends first)."""
        while True:
            line = self._queue.get(timeout=120)
            assert line is not None, "the child ended early:\n" + "".join(self.lines)
            self.lines.append(line)
            if needle in line:
                return line

    def finish(self) -> str:
        """Wait for the child to exit; all it wrote."""
        self.process.wait(timeout=120)
        while (line := self._queue.get(timeout=120)) is not None:
            self.lines.append(line)
        return "".join(self.lines)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path: Path,
                                                                corpus_file: Path, signum):
    run_dir = tmp_path / "run"
    child = Child(run_dir, corpus_file)
    try:
        child.wait_for("step 3: train loss")  # the first evaluation: three steps are done
        child.process.send_signal(signum)
        err = child.finish()
    finally:
        child.kill()
    assert child.process.returncode == 0, err
    assert "Traceback" not in err
    assert "finishing the current step and saving a checkpoint" in err
    latest = Run.open(run_dir).latest_checkpoint()
    assert latest is not None and latest.step >= 3


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="SIGUSR1 is POSIX only")
@pytest.mark.skipif(not hasattr(TrainControl, "request_checkpoint"),
                    reason="TrainControl.request_checkpoint is not there yet")
def test_sigusr1_saves_a_checkpoint_and_training_goes_on(tmp_path: Path, corpus_file: Path):
    run_dir = tmp_path / "run"
    child = Child(run_dir, corpus_file)
    try:
        child.wait_for("step 3: train loss")
        child.process.send_signal(signal.SIGUSR1)
        saved = child.wait_for("checkpoint saved:")  # checkpoint_interval=0: only on request
        assert child.process.poll() is None  # still training
        requested_step = Run.open(run_dir).latest_checkpoint().step
        # It goes on: an evaluation after the requested checkpoint's step.
        while int(child.wait_for(": train loss").split()[1].rstrip(":")) <= requested_step:
            pass
        child.process.send_signal(signal.SIGINT)
        err = child.finish()
    finally:
        child.kill()
    assert child.process.returncode == 0, err
    assert "checkpoint requested" in err and requested_step >= 3
    assert saved.split("checkpoint saved: ", 1)[1].strip().endswith(f"step-{requested_step:08d}")
    assert Run.open(run_dir).latest_checkpoint().step > requested_step


def test_a_run_stopped_before_its_first_checkpoint_can_be_started_over(tmp_path: Path,
                                                                       corpus_file: Path,
                                                                       capsys):
    from gptstudio.core.corpora import load_corpus
    from gptstudio.core.model import from_preset
    from gptstudio.core.pipeline import prepare_new_training
    from gptstudio.core.tokenizers import CharTokenizer
    from gptstudio.core.train import TrainConfig

    # What a kill before the first checkpoint leaves: a run folder without a checkpoint.
    run_dir = tmp_path / "run"
    corpus = load_corpus(corpus_file)
    tok = CharTokenizer.from_text(corpus.text)
    prepare_new_training(run_dir, corpus, tok,
                         from_preset("nano", n_layer=1, n_embd=16, n_head=2, block_size=16),
                         TrainConfig(max_steps=3, batch_size=2, eval_iters=1))
    assert Run.exists(run_dir) and Run.open(run_dir).latest_checkpoint() is None
    (run_dir / "notes.txt").write_text("mine", encoding="utf-8")

    assert main(["train", "--run-dir", str(run_dir), "--resume", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "no complete checkpoint" in err and "start it over with --restart" in err
    assert train(run_dir, corpus_file, "--max-steps", "3") == 1  # a runtime failure
    err = capsys.readouterr().err
    assert "--resume" in err and "--restart" in err
    assert main(["train", "--run-dir", str(run_dir), "--resume", "--restart"]) == 2
    assert "use one of them" in capsys.readouterr().err

    assert train(run_dir, corpus_file, "--max-steps", "3", "--restart") == 0
    run = Run.open(run_dir)
    assert run.latest_checkpoint().step == 3 and run.model_config().n_embd == 32  # SMALL's
    assert (run_dir / "notes.txt").read_text(encoding="utf-8") == "mine"  # not the run's
    # A finished run starts over too: its old steps are gone, the new run's are there.
    assert train(run_dir, corpus_file, "--max-steps", "2", "--restart") == 0
    assert len(losses(run_dir)) == 2 and Run.open(run_dir).latest_checkpoint().step == 2
    # --restart where there is no run yet is a plain new run.
    assert train(tmp_path / "fresh", corpus_file, "--max-steps", "1", "--restart") == 0


def test_the_lstm_baseline_trains_samples_and_refuses_gpt2_export(tmp_path: Path,
                                                                   corpus_file: Path, capsys):
    run_dir = tmp_path / "lstm"
    assert main(["train", "--arch", "lstm", "--corpus", str(corpus_file), "--max-steps", "3",
                 "--set", "eval_iters=1", "--set", "eval_interval=3", "--set", "sample_interval=0",
                 "--set", "batch_size=2", "--run-dir", str(run_dir), "--quiet"]) == 0
    assert Run.open(run_dir).model_config_dict["arch"] == "lstm"
    assert main(["sample", "--run", str(run_dir), "--max-new-tokens", "5", "--seed", "1"]) == 0
    assert main(["export", "--run", str(run_dir), "--out", str(tmp_path / "x")]) == 2
    assert "LSTM" in capsys.readouterr().err


def test_a_new_run_can_start_from_another_runs_weights(tmp_path: Path, corpus_file: Path,
                                                       capsys):
    from gptstudio.core.pipeline import load_trained_model

    # An imported model (here: a trained run exported to GPT-2's layout and imported back).
    first = tmp_path / "first"
    assert train(first, corpus_file, "--max-steps", "3") == 0
    assert main(["export", "--run", str(first), "--format", "hf", "--out",
                 str(tmp_path / "hf")]) == 0
    imported = tmp_path / "imported"
    assert main(["import-gpt2", str(tmp_path / "hf"), "--run-dir", str(imported),
                 "--tokenizer", str(Run.open(first).tokenizer_path)]) == 0
    capsys.readouterr()
    # It was never trained: resuming it says what to do instead.
    assert main(["train", "--run-dir", str(imported), "--resume", "--quiet"]) == 1
    assert "--init-from" in capsys.readouterr().err

    tuned = tmp_path / "tuned"
    settings = ["--set", "learning_rate=1e-9", "--set", "min_lr=1e-10", "--set",
                "weight_decay=0", "--set", "batch_size=4", "--set", "eval_iters=2", "--set",
                "sample_interval=0", "--set", "warmup_steps=1", "--set", "dropout=0.1"]
    assert main(["train", "--init-from", str(imported), "--corpus", str(corpus_file),
                 "--run-dir", str(tuned), "--max-steps", "2", "--quiet", *settings]) == 0
    run = Run.open(tuned)
    assert run.data_config["init_from"]["run"] == str(imported.resolve())
    assert run.data_config["init_from"]["step"] == 0
    assert run.model_config().dropout == 0.1
    # With a learning rate of 1e-9 the weights barely move: they are the imported ones (a fresh
    # initialisation would differ by ~0.02 everywhere).
    _, start, _ = load_trained_model(imported)
    _, after, _ = load_trained_model(tuned)
    for (name, a), b in zip(start.state_dict().items(), after.state_dict().values()):
        torch.testing.assert_close(b, a, atol=1e-6, rtol=0, msg=name)
    # The new run is an ordinary run: it resumes as usual.
    assert main(["train", "--run-dir", str(tuned), "--resume", "--max-steps", "3",
                 "--quiet"]) == 0
    assert Run.open(tuned).latest_checkpoint().step == 3


@pytest.mark.parametrize("extra, needle", [
    (["--preset", "tiny"], "drop --preset"),
    (["--tokenizer", "char"], "drop --tokenizer"),
    (["--set", "n_layer=3"], "n_layer cannot change"),
    (["--resume"], "use one of them"),
])
def test_init_from_refuses_what_would_not_fit_its_weights(tmp_path: Path, corpus_file: Path,
                                                          capsys, extra, needle):
    source = tmp_path / "source"
    assert train(source, corpus_file, "--max-steps", "3") == 0
    capsys.readouterr()
    assert main(["train", "--init-from", str(source), "--corpus", str(corpus_file),
                 "--run-dir", str(tmp_path / "new"), "--quiet", *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not Run.exists(tmp_path / "new")
    assert main(["train", "--init-from", str(tmp_path / "nowhere"), "--corpus",
                 str(corpus_file), "--run-dir", str(tmp_path / "new"), "--quiet"]) == 1
