"""One writer per run folder: a lock file that names the process holding it.

Two processes training the same run folder would interleave their steps in `metrics.jsonl` and
their checkpoints in `checkpoints/`. So a trainer with a run folder holds `run.lock` while it
runs: the file is created exclusively (`O_EXCL`, atomic on every local file system) and holds
the writer's pid, host and start time. A second writer is refused with a message naming the
first. A lock left by a process that was killed (same host, and no process with that pid, or
one started after the lock was taken: its pid was reused) is stale and taken over; a lock from
another host is never judged stale here (its process cannot be seen).

Where it is taken: `holds_run_lock` wraps the pipeline's `prepare_*` functions, so the lock is
held from before anything of the run is written (a `--restart` cannot delete a run another
process trains) and handed to the `Trainer`, which gives it back when `events()` ends (finished,
stopped, failed or closed), or when the trainer is dropped without ever running.
Left out: readers (the app and the CLI read a run while it trains, without a lock).
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import socket
import stat
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar


from gptstudio.core.atomic import pid_alive
from gptstudio.core.errors import CheckpointError
from gptstudio.core.system import process_start_time
from gptstudio.core.train.run import LOCK_FILE

UNREADABLE_GRACE_S = 10.0
_HELD: set[str] = set()  # the lock files this process holds (a reused pid is told apart)
_HELD_GUARD = threading.Lock()
Prepare = TypeVar("Prepare", bound=Callable[..., Any])


class RunLock:
    """`with RunLock(run_folder): ...` holds the folder's writer lock (see the module doc)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = Path(folder) / LOCK_FILE
        self.held = False

    def acquire(self) -> RunLock:
        """Take the lock; CheckpointError naming the holder when another live process has it."""
        now = time.time()
        mine = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "started": datetime.fromtimestamp(now, timezone.utc).isoformat(
                               timespec="seconds"), "time": now})
        for _ in range(2):  # a second try after removing a stale lock
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is None and self._just_made():
                    raise CheckpointError(f"Another process is taking the lock {self.path} "
                                          "right now; try again in a moment.") from None
                if holder is not None and _key(self.path) in _HELD:
                    gc.collect()  # an unreachable trainer that never ran gives it back
                if holder is not None and not self._is_stale(holder):
                    raise CheckpointError(self._refusal(holder)) from None
                self.path.unlink(missing_ok=True)  # stale (or unreadable): take it over
                continue
            except OSError as exc:  # e.g. a read-only folder: no training can happen there
                raise CheckpointError(f"Cannot write in the run folder {self.path.parent} "
                                      f"({exc.strerror or exc}); training needs a writable "
                                      "folder.") from None
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(mine)
                f.flush()
                os.fsync(f.fileno())
            self.held = True
            with _HELD_GUARD:
                _HELD.add(_key(self.path))
            return self
        raise CheckpointError(f"Could not take the lock {self.path}; try again.")

    def release(self) -> None:
        """Give the lock back (only if this process holds it); safe to call more than once."""
        if not self.held:
            return
        self.held = False
        with _HELD_GUARD:
            _HELD.discard(_key(self.path))
        holder = self._holder()
        if holder is not None and holder.get("pid") == os.getpid():
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)

    def _refusal(self, holder: dict) -> str:
        who = (f"pid {holder.get('pid')} on {holder.get('host')}, since "
               f"{holder.get('started')}")
        if _key(self.path) in _HELD:
            return (f"The run {self.path.parent.name} is already being trained by this program "
                    f"({who}): one writer per run. Stop that training first.")
        return (f"The run {self.path.parent.name} is being trained by another process ({who}): "
                f"one writer per run. Wait for it to finish or stop it; if that process is gone, "
                f"delete {self.path}.")

    def _holder(self) -> dict | None:
        try:  # a run folder may come from someone else: a FIFO or device here never blocks
            fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
            with os.fdopen(fd, "rb") as f:
                if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                    return None
                holder = json.loads(f.read(4096))  # a lock is a line; never read more
        except (OSError, ValueError):
            return None  # half-written by a killed process, or gone meanwhile
        return holder if isinstance(holder, dict) else None

    def _just_made(self) -> bool:
        """An unreadable lock younger than a few seconds is being written; an older one was
        left half-written by a killed process."""
        try:
            return time.time() - self.path.stat().st_mtime < UNREADABLE_GRACE_S
        except OSError:
            return False

    def _is_stale(self, holder: dict) -> bool:
        pid = holder.get("pid")
        if holder.get("host") != socket.gethostname() or not isinstance(pid, int):
            return False  # another machine's process: not ours to judge
        if pid == os.getpid():  # this process: held if one of its RunLocks has it
            return _key(self.path) not in _HELD
        if not pid_alive(pid):
            return True
        taken = holder.get("time")
        started = process_start_time(pid)  # a process younger than the lock did not take it
        return isinstance(taken, (int, float)) and started is not None and started > taken

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _key(lock_path: Path) -> str:
    return os.path.normcase(os.path.abspath(lock_path))


def check_no_other_writer(folder: str | os.PathLike) -> bool:
    """Before a run is deleted: CheckpointError if another live process holds its lock; True
    if this process holds it (keep the lock file), False if there is none or a stale one."""
    lock = RunLock(folder)
    if not os.path.lexists(lock.path):
        return False
    holder = lock._holder()
    if _key(lock.path) in _HELD:
        return True
    if holder is not None and not lock._is_stale(holder):
        raise CheckpointError(lock._refusal(holder).replace("Stop that training first",
                                                            "It was not deleted"))
    return False


def give_lock(trainer: Any, lock: RunLock) -> None:
    """Hand `lock` to `trainer`: its `events()` gives it back when it ends, and so does the
    trainer being dropped unrun (a preparation the user then cancelled)."""
    trainer.writer_lock = lock
    weakref.finalize(trainer, lock.release)


def holds_run_lock(prepare: Prepare) -> Prepare:
    """Decorate a `prepare_*(run_dir, ...)` function: the lock is taken before it runs (the
    folder made for it, if new), given back if it fails, else handed to the result's trainer."""

    @functools.wraps(prepare)
    def prepare_locked(run_dir: str | os.PathLike, *args: Any, **kwargs: Any) -> Any:
        from gptstudio.core.train.distributed import is_main_process

        if not is_main_process():  # under torchrun, rank 0 alone writes the run and locks it
            return prepare(run_dir, *args, **kwargs)
        folder = Path(run_dir)
        if folder.exists() and not folder.is_dir():
            return prepare(run_dir, *args, **kwargs)  # its own error names the problem
        made = not folder.exists()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CheckpointError(f"Cannot make the run folder {folder} ({exc.strerror or exc})."
                                  ) from None
        lock = RunLock(folder)
        try:
            lock.acquire()
            prepared = prepare(run_dir, *args, **kwargs)
        except BaseException:
            lock.release()
            if made:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # made only for the lock: leave nothing behind
            raise
        give_lock(prepared.trainer, lock)
        return prepared

    return prepare_locked  # type: ignore[return-value]
