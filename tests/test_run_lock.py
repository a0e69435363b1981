"""One writer per run folder: a second writer is refused with the first one named; a lock left
by a killed process is recognised and taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from gptstudio.core.errors import CheckpointError
from gptstudio.core.train.run_lock import LOCK_FILE, RunLock


def _dead_pid() -> int:
    """The pid of a process that has just ended (not reused this quickly in practice)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_a_second_writer_is_refused_and_the_lock_is_given_back(tmp_path):
    with RunLock(tmp_path):
        holder = json.loads((tmp_path / LOCK_FILE).read_text(encoding="utf-8"))
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
        with pytest.raises(CheckpointError, match=f"by this program \\(pid {os.getpid()}"):
            RunLock(tmp_path).acquire()
    assert not (tmp_path / LOCK_FILE).exists()
    with RunLock(tmp_path):  # free again
        pass


def test_the_lock_of_a_killed_process_is_taken_over(tmp_path):
    (tmp_path / LOCK_FILE).write_text(json.dumps(
        {"pid": _dead_pid(), "host": socket.gethostname(), "started": "earlier"}))
    with RunLock(tmp_path):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()


def test_a_lock_held_on_another_machine_is_never_called_stale(tmp_path):
    (tmp_path / LOCK_FILE).write_text(json.dumps(
        {"pid": _dead_pid(), "host": "another-machine", "started": "earlier"}))
    with pytest.raises(CheckpointError, match="on another-machine"):
        RunLock(tmp_path).acquire()


def test_a_half_written_lock_is_waited_for_then_taken_over(tmp_path):
    lock = tmp_path / LOCK_FILE
    lock.write_text('{"pid": 12')  # its writer is writing it, or was killed doing so
    with pytest.raises(CheckpointError, match="right now; try again"):
        RunLock(tmp_path).acquire()
    os.utime(lock, (1_000, 1_000))  # long ago: its writer was killed
    with RunLock(tmp_path):
        pass
