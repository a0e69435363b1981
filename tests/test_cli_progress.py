"""How the CLI shows progress: a bar redrawn in place on a terminal, plain lines in a log."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

from gptstudio.cli import main
from gptstudio.cli.progress import TrainProgress
from gptstudio.core.train.events import EvalEvent, StatusEvent, StepEvent

PREPARED = SimpleNamespace(resumed=False, n_params=1234, corpus=SimpleNamespace(name="toy"),
                           n_train_tokens=900, n_val_tokens=100,
                           run=SimpleNamespace(path=Path("runs/toy")))


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    """A clock that moves only when told to (each call returns the time, then adds `tick`)."""

    def __init__(self, tick: float = 0.0) -> None:
        self.now, self.tick = 1000.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def step(n: int, max_steps: int) -> StepEvent:
    return StepEvent(step=n, loss=3.0 - n / 100, lr=1e-3, grad_norm=1.0, tokens_per_sec=12345.0,
                     tokens_seen=n * 64, elapsed=n * 0.1, eta=(max_steps - n) * 0.1,
                     max_steps=max_steps)


def evaluation(n: int) -> EvalEvent:
    return EvalEvent(step=n, train_loss=2.5, val_loss=2.6, train_ppl=12.2, val_ppl=13.5,
                     train_bpb=3.6, val_bpb=3.75, best=True)


def progress_steps(text: str) -> list[int]:
    """The step of each progress line ('step 5/50 [...] ...') in the output."""
    return [int(line.split()[1].split("/")[0]) for line in text.splitlines()
            if line.startswith("step ") and "[" in line]


def test_a_log_gets_a_line_at_each_tenth_and_no_redraws():
    log = io.StringIO()
    display = TrainProgress(PREPARED, stream=log, clock=Clock())
    for n in range(1, 51):
        display.show(step(n, 50))
        if n == 25:
            display.show(evaluation(25))
    display.show(StatusEvent("finished", "Training finished at step 50.", 50))
    display.close()
    text = log.getvalue()
    assert "\r" not in text and "\033" not in text
    assert progress_steps(text) == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    lines = text.splitlines()
    assert lines[0].startswith("training 1,234-parameter model on toy")
    at_25 = next(i for i, line in enumerate(lines) if line.startswith("step 25/50 ["))
    assert lines[at_25 + 1].startswith("step 25: train loss 2.5000, val loss 2.6000")
    assert lines[-1] == "Training finished at step 50."


def test_a_slow_run_in_a_log_still_shows_a_line_every_30_seconds():
    log = io.StringIO()
    display = TrainProgress(PREPARED, stream=log, clock=Clock(tick=31.0))
    for n in range(1, 6):  # 5 steps of a 1000-step run: no tenth is reached
        display.show(step(n, 1000))
    assert progress_steps(log.getvalue()) == [1, 2, 3, 4, 5]


def test_a_terminal_gets_one_bar_redrawn_in_place():
    screen = Terminal()
    display = TrainProgress(PREPARED, stream=screen)
    display.show(step(1, 10))
    display.show(evaluation(1))
    display.close()
    text = screen.getvalue()
    # The bar is drawn with "\r", cleared before the evaluation line, then drawn again.
    assert "\rstep 1/10 [" in text
    assert "\r\033[Kstep 1: train loss 2.5000" in text
    assert text.endswith("\n") and text.count("\n") == 3  # header, evaluation, final newline


def test_cli_training_logged_to_a_file_has_plain_lines(tmp_path: Path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat. the dog sat on the log.\n" * 40, encoding="utf-8")
    args = ["train", "--corpus", str(corpus), "--tokenizer", "char", "--preset", "nano",
            "--set", "n_layer=1", "--set", "n_embd=16", "--set", "n_head=2",
            "--set", "block_size=16", "--set", "batch_size=2", "--set", "eval_iters=1",
            "--set", "eval_interval=10", "--set", "sample_interval=0",
            "--max-steps", "20", "--run-dir", str(tmp_path / "run")]
    assert main(args) == 0
    err = capsys.readouterr().err  # captured: not a terminal, like a log file
    assert "\r" not in err and "\033" not in err
    assert progress_steps(err) == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20]
    assert "step 20: train loss" in err and "Training finished at step 20." in err


def test_bpe_training_logged_to_a_file_has_a_line_per_tenth(tmp_path: Path, capsys):
    out = tmp_path / "bpe.json"
    assert main(["tokenizer", "train", "builtin:fables", "--kind", "bpe", "--vocab-size", "297",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    merges = [line for line in err.splitlines() if line.startswith("merge ")]
    assert "\r" not in err
    assert [line.split()[1] for line in merges] == [f"{n}/40" for n in range(4, 41, 4)]
