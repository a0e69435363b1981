"""Reading the small files of a run folder or a tokenizer, which may come from someone else.

A run folder shared by another person is untrusted input: its `gptstudio-tokenizer.json` may be
a link to `/dev/zero` (reading would never end) or to a private file (whose first line an error
message must not repeat), its configs may be huge. So these files are read only when they are
regular files, only up to a size limit, and errors name the file and the problem, never its
contents. Left out: corpora (`corpora/files.py` streams them, with its own checks).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from gptstudio.core.errors import GPTStudioError

MB = 1 << 20


def read_regular_file(path: str | os.PathLike, *, max_bytes: int, what: str,
                      error: type[GPTStudioError] = GPTStudioError) -> bytes:
    """The bytes of `path` (links followed), refused unless it is a regular file of at most
    `max_bytes`; `what` names it in messages ("the tokenizer file"), `error` is the class."""
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise error(f"{what.capitalize()} {path} is missing.") from None
    except OSError as exc:
        raise error(f"Cannot read {what} {path}: {exc.strerror}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{what.capitalize()} {path} is not a regular file (a folder, a device or a "
                    "pipe); it is not read.")
    if info.st_size > max_bytes:
        raise error(f"{what.capitalize()} {path} is {info.st_size / MB:,.1f} MB, more than such "
                    f"a file can be ({max_bytes / MB:,.0f} MB); it is not read.")
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)  # a file that grew since stat() is still bounded
    except OSError as exc:
        raise error(f"Cannot read {what} {path}: {exc.strerror}.") from None
    if len(data) > max_bytes:
        raise error(f"{what.capitalize()} {path} is larger than such a file can be "
                    f"({max_bytes / MB:,.0f} MB); it is not read.")
    return data


def read_json_file(path: str | os.PathLike, *, max_bytes: int, what: str,
                   error: type[GPTStudioError] = GPTStudioError) -> Any:
    """`read_regular_file`, parsed as UTF-8 JSON (the message says where it breaks, not what
    the file holds)."""
    data = read_regular_file(path, max_bytes=max_bytes, what=what, error=error)
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise error(f"{what.capitalize()} {path} is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        raise error(f"{what.capitalize()} {path} is not valid JSON (it breaks at line "
                    f"{exc.lineno}, column {exc.colno}).") from None
