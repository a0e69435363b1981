"""One writer per run folder, wired: training holds `run.lock` from its preparation to the end of
its events; a second writer (another process) is refused with that process named; a killed
writer's lock is recognised as stale; the lock is one of the run's own files."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gptstudio.cli import main
from gptstudio.core.errors import CheckpointError
from gptstudio.core.pipeline import prepare_resumed_training
from gptstudio.core.train import Run, TrainControl
from gptstudio.core.train.run import LOCK_FILE
from gptstudio.core.train.run_lock import RunLock
from tests.cli_runs import SMALL, small_cli_run

HOLD = ("import sys; from gptstudio.core.train.run_lock import RunLock\n"
        "with RunLock(sys.argv[1]): print('held', flush=True); sys.stdin.read()")


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return small_cli_run(tmp_path, steps=2)


def holder_process(folder: Path) -> subprocess.Popen:
    """A child process that holds the folder's lock until its stdin is closed."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def resume(run: Path, steps: int) -> int:
    return main(["train", "--run-dir", str(run), "--resume", "--max-steps", str(steps),
                 "--quiet"])


def test_training_leaves_no_lock_behind(run_dir: Path):
    assert not (run_dir / LOCK_FILE).exists()  # the new run gave it back when it finished
    assert resume(run_dir, 4) == 0
    assert not (run_dir / LOCK_FILE).exists()
    assert resume(run_dir, 4) != 0  # refused (already at step 4): the lock is given back too
    assert not (run_dir / LOCK_FILE).exists()


def test_a_second_writer_process_is_refused_with_the_holder_named(run_dir: Path, capsys):
    child = holder_process(run_dir)
    try:
        assert resume(run_dir, 4) == 1
        err = capsys.readouterr().err
        assert f"pid {child.pid} on {socket.gethostname()}, since 20" in err
        assert "one writer per run" in err
        assert Run.open(run_dir).latest_checkpoint().step == 2  # nothing was trained
        # --restart would delete the run under the other writer's feet: refused as well.
        with pytest.raises(CheckpointError, match=f"pid {child.pid}"):
            Run.delete(run_dir)
        assert Run.exists(run_dir)
    finally:
        child.stdin.close()
        child.wait()
    assert not (run_dir / LOCK_FILE).exists()  # the holder gave it back on its way out
    assert resume(run_dir, 4) == 0


def test_the_lock_of_a_killed_writer_is_stale(run_dir: Path):
    child = holder_process(run_dir)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert (run_dir / LOCK_FILE).exists()  # left behind by the kill
    assert resume(run_dir, 4) == 0
    assert not (run_dir / LOCK_FILE).exists()


def test_a_reused_pid_does_not_keep_a_lock(run_dir: Path):
    # The lock names a live process that started after the lock was taken: not its writer.
    child = holder_process(run_dir.parent)  # some live process, holding another folder
    try:
        (run_dir / LOCK_FILE).write_text(json.dumps(
            {"pid": child.pid, "host": socket.gethostname(), "started": "long ago",
             "time": 1_000.0}))
        assert resume(run_dir, 4) == 0
    finally:
        child.stdin.close()
        child.wait()
    # This process's own pid in a lock none of its RunLocks holds (a container's pid reused).
    (run_dir / LOCK_FILE).write_text(json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "started": "before", "time": 1.0}))
    assert resume(run_dir, 6) == 0


def test_the_lock_is_held_while_training_and_given_back_on_stop_or_close(run_dir: Path):
    control = TrainControl()
    prepared = prepare_resumed_training(run_dir, max_steps=6, control=control)
    holder = json.loads((run_dir / LOCK_FILE).read_text())
    assert holder["pid"] == os.getpid()
    with pytest.raises(CheckpointError, match="already being trained by this program"):
        prepare_resumed_training(run_dir, max_steps=6)
    events = prepared.trainer.events()
    next(events)
    assert (run_dir / LOCK_FILE).exists()
    control.stop()
    list(events)  # stopped: the generator ends
    assert not (run_dir / LOCK_FILE).exists()
    # A generator closed half-way (the caller gave up) gives it back as well.
    events = prepare_resumed_training(run_dir, max_steps=8).trainer.events()
    next(events)
    assert (run_dir / LOCK_FILE).exists()
    events.close()
    assert not (run_dir / LOCK_FILE).exists()


def test_the_lock_is_one_of_the_runs_own_files(tmp_path: Path, run_dir: Path):
    # A stale lock does not keep a deleted run's folder alive.
    (run_dir / LOCK_FILE).write_text(json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "started": "before", "time": 1.0}))
    Run.delete(run_dir)
    assert not run_dir.exists()
    # A folder holding only a lock is still an empty place for a new run.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / LOCK_FILE).write_text(json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "started": "before", "time": 1.0}))
    assert main(["train", "--corpus", str(tmp_path / "corpus.txt"), "--tokenizer", "char",
                 *SMALL, "--run-dir", str(fresh), "--quiet", "--max-steps", "1"]) == 0
    assert Run.open(fresh).latest_checkpoint().step == 1
    assert not (fresh / LOCK_FILE).exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="POSIX FIFOs")
def test_a_lock_that_is_no_regular_file_never_blocks(tmp_path: Path):
    os.mkfifo(tmp_path / LOCK_FILE)  # opening a FIFO to read would wait for a writer
    os.utime(tmp_path / LOCK_FILE, (1_000, 1_000))
    with RunLock(tmp_path):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
