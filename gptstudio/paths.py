"""Where GPT Studio finds its bundled resources and keeps its caches.

The top-level `resources/` folder of the repository is installed as the package
`gptstudio.resources`, so the same files are found from a checkout and from a wheel.
"""

from __future__ import annotations

import os
from pathlib import Path


def resources_dir() -> Path:
    """The folder holding bundled corpora, icons and styles."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "resources", here.parent / "resources"):
        if (candidate / "corpora").is_dir():
            return candidate
    try:  # an installed wheel maps resources/ to the package gptstudio.resources
        import importlib.resources as ir

        return Path(str(ir.files("gptstudio.resources")))
    except (ModuleNotFoundError, TypeError):
        return here.parent / "resources"


def cache_dir() -> Path:
    """Per-user cache (downloads, token caches); `GPTSTUDIO_CACHE_DIR` overrides it. Else the
    platform's place (`platformdirs`): ~/.cache/gptstudio ($XDG_CACHE_HOME) on Linux,
    ~/Library/Caches/gptstudio on macOS, %LOCALAPPDATA%\\gptstudio\\Cache on Windows."""
    env = os.environ.get("GPTSTUDIO_CACHE_DIR")
    if env:
        return Path(env)
    try:
        import platformdirs  # only when no override says where
    except ModuleNotFoundError:  # a bare checkout run (gptstudio/core/system.py says when)
        return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gptstudio"
    return Path(platformdirs.user_cache_dir("gptstudio", appauthor=False))


def shared_data_dir() -> Path:
    """`../shared/data` beside the checkout: real public texts used by tests and benchmarks."""
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data"
