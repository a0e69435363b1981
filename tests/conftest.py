"""Shared test set-up: Qt offscreen, paths to the shared real-world data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`: tinyshakespeare.txt, the-verdict.txt, gpt2.tiktoken."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data folder missing: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own cache folder, so nothing leaks between tests or into $HOME."""
    monkeypatch.setenv("GPTSTUDIO_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    # Tests never download: named tiktoken encodings fail at once unless a test caches one.
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", "1")
