"""Atomic file writes: a file is either the old version or the complete new one, never half.

Writing a file in place and being killed half-way (power cut, `kill -9`, a crash) leaves a
truncated file: the previous checkpoint is gone and the new one is garbage. The recipe that
survives this:

1. write the bytes to a temporary file in the *same* folder (a rename across file systems is a
   copy, not atomic);
2. flush and `fsync` it, so its contents are on disk before its name is;
3. `os.replace` it over the target: POSIX guarantees readers see the old or the new file;
4. `fsync` the folder, so the rename itself survives a power cut.

Temporary names carry the writer's process id, so leftovers of a killed writer can be recognised
and removed later (`clean_stale_temp_files`) without touching files that a live process is still
writing (whether it runs: `psutil`, on every platform). Used by checkpoints, run files, token
caches and saved tokenizers. Left out: what is written.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from pathlib import Path

from gptstudio.core.system import pid_exists

# ".<name>.tmp-<pid>-<random>" for files, ".tmp-<label>-<pid>-<random>" for folders.
_TEMP_FILE = re.compile(r"^\..+\.tmp-(\d+)-[0-9a-f]+$")
_TEMP_DIR = re.compile(r"^\.(?:tmp|delete)-.*-(\d+)-[0-9a-f]+$")


def temp_name(final_name: str) -> str:
    """The name of a temporary sibling of `final_name`, owned by this process."""
    return f".{final_name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"


def temp_dir_name(label: str, kind: str = "tmp") -> str:
    """The name of a temporary folder (`kind` "tmp": being written; "delete": being removed)."""
    return f".{kind}-{label}-{os.getpid()}-{secrets.token_hex(4)}"


def fsync_dir(directory: str | os.PathLike) -> None:
    """Make a rename or a new file in `directory` durable (no-op where folders can't open)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows: folders cannot be opened, and NTFS journals renames anyway
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Replace the file at `path` with `data` atomically (see the module docstring)."""
    path = Path(path)
    tmp = path.with_name(temp_name(path.name))
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        # Don't leave our own half-written temp file behind (a kill -9 can, see below).
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists. `psutil` asks the system without touching the
    process: `os.kill(pid, 0)`, the POSIX idiom, would end the process on Windows."""
    if pid == os.getpid():
        return True
    try:
        return pid_exists(pid)
    except (OSError, ValueError, OverflowError):  # a pid no system could have
        return False


def clean_stale_temp_files(directory: str | os.PathLike) -> list[Path]:
    """Remove temporary files and folders left in `directory` by writers that no longer run.

    Returns what was removed. Temp files of live processes (a save in progress) are left alone.
    """
    directory = Path(directory)
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    for entry in directory.iterdir():
        match = _TEMP_FILE.match(entry.name) or _TEMP_DIR.match(entry.name)
        if match is None or pid_alive(int(match.group(1))):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink(missing_ok=True)
        except OSError:
            continue  # a read-only folder (a run opened only to be read) keeps its leftovers
        removed.append(entry)
    return removed
