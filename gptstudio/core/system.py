"""What the operating system says about processes and memory, through `psutil`.

`psutil` is a dependency of every install. The one place it may be missing is a bare machine
that runs the repository from its checkout (`scripts/gpu_check.sh` on a GPU box whose Python has
torch but nothing else): there these answers fall back to what POSIX offers, so the engine still
imports and trains. Never used on Windows without psutil (`os.kill(pid, 0)` would end the process).
"""

from __future__ import annotations

import os

try:
    import psutil
except ModuleNotFoundError:  # a bare checkout run (see the module docstring)
    psutil = None  # type: ignore[assignment]


def pid_exists(pid: int) -> bool:
    """Whether a process with this id exists, without touching it."""
    if psutil is not None:
        return bool(psutil.pid_exists(pid))
    if os.name != "posix":
        return True  # cannot ask safely: treat it as alive (a lock is then never stolen)
    try:
        os.kill(pid, 0)  # POSIX: signal 0 only checks that the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_start_time(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), or None when unknown."""
    if psutil is None:
        return None
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def available_memory() -> int | None:
    """Bytes of memory the system reports as available now, or None when it does not say."""
    if psutil is not None:
        try:
            return int(psutil.virtual_memory().available)
        except (OSError, RuntimeError, AttributeError):
            return None
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None
