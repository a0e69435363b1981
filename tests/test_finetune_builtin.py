"""The fine-tuning data that ships: every `builtin:` name resolves to a file in resources/, and
the book's instruction data is bundled byte for byte, with its licence notice beside it."""

from __future__ import annotations

import hashlib
import re

import pytest

from gptstudio.core.errors import ConfigError
from gptstudio.core.finetune import BUILTIN_DATA, read_records, resolve_data_path
from gptstudio.paths import resources_dir


def test_every_builtin_name_is_a_shipped_file():
    assert {"authors", "instructions"} <= set(BUILTIN_DATA)
    for name, entry in BUILTIN_DATA.items():
        path = resolve_data_path(f"builtin:{name}")
        assert path.is_file() and path.parent == resources_dir() / "finetune", name
        assert entry.task in ("classification", "instructions")
    with pytest.raises(ConfigError, match="builtin:instructions"):
        resolve_data_path("builtin:no-such-set")


def test_the_instruction_data_is_the_books_file_with_its_notice(shared_data):
    bundled = resolve_data_path("builtin:instructions")
    data = bundled.read_bytes()
    assert data == (shared_data / "instruction-data.json").read_bytes()
    # The checksum the shared folder's README publishes, and the one the notice states.
    readme = (shared_data / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| instruction-data"))
    published = re.findall(r"\b[0-9a-f]{64}\b", row)
    notice = (bundled.parent / "NOTICE").read_text(encoding="utf-8")
    assert published == [hashlib.sha256(data).hexdigest()]
    assert published[0] in notice
    for words in ("rasbt/LLMs-from-scratch", "ch07/01_main-chapter-code/instruction-data.json",
                  "Apache License, Version 2.0", "Sebastian Raschka"):
        assert words in notice, words
    assert "Apache License" in (bundled.parent / "instruction-data.LICENSE.txt").read_text(
        encoding="utf-8")
    records = read_records(bundled)
    assert len(records) == 1100
    assert all(r.instruction and r.output for r in records)
