"""Instruction records (Alpaca style) for instruction fine-tuning: reading them, and a split.

A file is a JSON array of objects, or JSON Lines (`.jsonl`: one object a line), each with
`instruction` (text, not empty), `output` (the reference response, not empty) and an optional
`input` (text, may be empty): the format of the book's `instruction-data.json` and of Stanford
Alpaca. Other keys are ignored. Every problem names the file and the line: JSON that does not
parse (Python's decoder says where), a record that is not an object, a missing or empty field.

`split_records` shuffles the records with a seed and cuts them into train / val / test (the
book's 85 / 5 / 10 by default): train is learned from, val scores each evaluation (the loss on
its responses), test is held out for the end (responses generated and compared with the
references). Left out: the prompt template (`template.py`), tokens and masks
(`instructions.py`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gptstudio.core.corpora import read_text_file
from gptstudio.core.errors import DatasetError


@dataclass(frozen=True)
class InstructionRecord:
    instruction: str
    input: str
    output: str
    line: int  # where the record starts in its file (1-based)


@dataclass(frozen=True)
class RecordSplits:
    train: tuple[InstructionRecord, ...]
    val: tuple[InstructionRecord, ...]
    test: tuple[InstructionRecord, ...]

    def parts(self) -> dict[str, tuple[InstructionRecord, ...]]:
        return {"train": self.train, "val": self.val, "test": self.test}


def read_records(path: str | os.PathLike, text: str | None = None) -> list[InstructionRecord]:
    """The records of a JSON / JSON Lines file (see the module docstring)."""
    path = Path(path)
    if text is None:
        text = read_text_file(path)
    raw = _json_lines(path, text) if path.suffix.lower() == ".jsonl" else _json_array(path, text)
    records = [_record(path, value, line) for value, line in raw]
    if not records:
        raise DatasetError(f"{path.name} holds no instruction records.")
    return records


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _json_array(path: Path, text: str) -> list[tuple[object, int]]:
    """The array's elements with the line each starts on (decoded one by one to know it)."""
    decoder = json.JSONDecoder()
    pos = _skip_space(text, 0)
    if pos >= len(text) or text[pos] != "[":
        if text[pos:pos + 1] == "{":
            raise DatasetError(f"{path.name}, line {_line_of(text, pos)}: expected a JSON array "
                               "of records ([{...}, {...}]); for one record a line, name the "
                               "file .jsonl.")
        raise DatasetError(f"{path.name}, line {_line_of(text, pos)}: not a JSON array of "
                           "instruction records.")
    items: list[tuple[object, int]] = []
    pos = _skip_space(text, pos + 1)
    if text[pos:pos + 1] == "]":
        return items
    while True:
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path.name}, line {exc.lineno}, column {exc.colno}: not valid "
                               f"JSON ({exc.msg}).") from None
        items.append((value, _line_of(text, pos)))
        pos = _skip_space(text, end)
        if text[pos:pos + 1] == ",":
            pos = _skip_space(text, pos + 1)
        elif text[pos:pos + 1] == "]":
            break
        else:
            raise DatasetError(f"{path.name}, line {_line_of(text, pos)}: expected ',' or ']' "
                               "after a record.")
    rest = _skip_space(text, pos + 1)
    if rest < len(text):
        raise DatasetError(f"{path.name}, line {_line_of(text, rest)}: text after the end of "
                           "the array.")
    return items


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _json_lines(path: Path, text: str) -> list[tuple[object, int]]:
    items = []
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            try:
                items.append((json.loads(line), number))
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path.name}, line {number}, column {exc.colno}: not valid "
                                   f"JSON ({exc.msg}).") from None
    return items


def _record(path: Path, value: object, line: int) -> InstructionRecord:
    where = f"{path.name}, line {line}"
    if not isinstance(value, dict):
        raise DatasetError(f"{where}: a record must be an object with instruction, input and "
                           f"output, got {type(value).__name__}.")
    fields = {}
    for key, required in (("instruction", True), ("input", False), ("output", True)):
        field = value.get(key, "" if not required else None)
        if field is None and not required:
            field = ""
        if not isinstance(field, str):
            what = "missing" if field is None else f"not text ({type(field).__name__})"
            raise DatasetError(f"{where}: the record's {key!r} is {what}.")
        if required and not field.strip():
            raise DatasetError(f"{where}: the record's {key!r} is empty.")
        fields[key] = field
    return InstructionRecord(fields["instruction"], fields["input"], fields["output"], line)


def split_records(records: list[InstructionRecord], *, val_fraction: float = 0.05,
                  test_fraction: float = 0.10, seed: int = 0) -> RecordSplits:
    """A seeded shuffle cut into train / val / test; DatasetError if a split would be empty
    (val must hold a record; test may be empty only if its fraction is 0)."""
    if not (0 < val_fraction < 1 and 0 <= test_fraction < 1
            and val_fraction + test_fraction < 1):
        raise DatasetError(f"The validation ({val_fraction}) and test ({test_fraction}) "
                           "fractions must be between 0 and 1 and leave records to train on.")
    order = np.random.default_rng([seed, 3]).permutation(len(records))
    n_val = max(1, int(round(len(records) * val_fraction)))
    n_test = int(round(len(records) * test_fraction))
    n_test = max(1, n_test) if test_fraction > 0 else 0
    if n_val + n_test >= len(records):
        raise DatasetError(f"{len(records)} records are too few to hold out {n_val} for "
                           f"validation and {n_test} for testing and still train on some.")
    chosen = [records[i] for i in order]
    return RecordSplits(train=tuple(chosen[n_val + n_test:]), val=tuple(chosen[:n_val]),
                        test=tuple(chosen[n_val:n_val + n_test]))
