"""One writer per run folder: a lock file that names the process holding it.

Two processes training the same run folder would interleave their steps in `metrics.jsonl` and
their checkpoints in `checkpoints/`. So a trainer with a run folder holds `run.lock` while it
runs: the file is created exclusively (`O_EXCL`, atomic on every local file system) and holds
the writer's pid, host and start time. A second writer is refused with a message naming the
first. A lock left by a process that was killed (same host, pid no longer running) is stale and
taken over; a lock from another host is never judged stale here (its process cannot be seen).
Left out: readers (the app and the CLI read a run while it trains, without a lock).
"""

from __future__ import annotations

import json
import os
import socket
import time
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from gptstudio.core.atomic import pid_alive
from gptstudio.core.errors import CheckpointError

LOCK_FILE = "run.lock"
UNREADABLE_GRACE_S = 10.0


class RunLock:
    """`with RunLock(run_folder): ...` holds the folder's writer lock (see the module doc)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = Path(folder) / LOCK_FILE
        self.held = False

    def acquire(self) -> RunLock:
        """Take the lock; CheckpointError naming the holder when another live process has it."""
        mine = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "started": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        for _ in range(2):  # a second try after removing a stale lock
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is None and self._just_made():
                    raise CheckpointError(f"Another process is taking the lock {self.path} "
                                          "right now; try again in a moment.") from None
                if holder is not None and not self._is_stale(holder):
                    raise CheckpointError(
                        f"The run {self.path.parent.name} is being trained by another process "
                        f"(pid {holder.get('pid')} on {holder.get('host')}, since "
                        f"{holder.get('started')}): one writer per run. Wait for it to finish "
                        f"or stop it; if that process is gone, delete {self.path}.") from None
                self.path.unlink(missing_ok=True)  # stale (or unreadable): take it over
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(mine)
                f.flush()
                os.fsync(f.fileno())
            self.held = True
            return self
        raise CheckpointError(f"Could not take the lock {self.path}; try again.")

    def release(self) -> None:
        """Give the lock back (only if this process holds it)."""
        if self.held:
            holder = self._holder()
            if holder is not None and holder.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            self.held = False

    def _holder(self) -> dict | None:
        try:
            holder = json.loads(self.path.read_text(encoding="utf-8"))
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

    @staticmethod
    def _is_stale(holder: dict) -> bool:
        pid = holder.get("pid")
        if holder.get("host") != socket.gethostname() or not isinstance(pid, int):
            return False  # another machine's process: not ours to judge
        return pid != os.getpid() and not pid_alive(pid)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
