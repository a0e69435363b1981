"""Fine-tuning data that ships with GPT Studio, named `builtin:NAME` wherever a file is asked for.

- `builtin:authors` (classification): who wrote this passage, the fables, Shakespeare or Edith
  Wharton? 426 passages of one or two sentences, 142 a class, from public texts
  (resources/finetune/README.md says which, and their licences; scripts/build_authors_set.py
  rebuilds the file). Its characters are the default fables corpus's, so even a
  character-level base pretrained on the default corpus can fine-tune on it.
- `builtin:instructions` (instructions): the book's chapter 7 data, 1,100 Alpaca-style records
  (instruction, input, output), a verbatim copy of rasbt/LLMs-from-scratch's
  ch07/01_main-chapter-code/instruction-data.json under the Apache License 2.0; its notice and
  licence are beside it (resources/finetune/NOTICE, instruction-data.LICENSE.txt).
Left out: reading the files (`labelled.py`, `records.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gptstudio import paths
from gptstudio.core.errors import ConfigError

PREFIX = "builtin:"


@dataclass(frozen=True)
class BuiltinData:
    name: str
    task: str  # "classification" | "instructions"
    file: str  # relative to resources/
    description: str


BUILTIN_DATA: dict[str, BuiltinData] = {
    "authors": BuiltinData("authors", "classification", "finetune/authors.tsv",
                           "Who wrote this passage: the fables, Shakespeare or Edith Wharton?"),
    "instructions": BuiltinData("instructions", "instructions", "finetune/instruction-data.json",
                                "The book's 1,100 instruction records (chapter 7, Apache-2.0)"),
}


def resolve_data_path(data: str) -> Path:
    """The file a spec's `data` names: `builtin:NAME` (see above) or a path as given.

    >>> resolve_data_path("builtin:authors").name
    'authors.tsv'
    """
    if not data.startswith(PREFIX):
        return Path(data)
    name = data[len(PREFIX):]
    if name not in BUILTIN_DATA:
        raise ConfigError(f"Unknown built-in data {data!r}; choose one of "
                          f"{', '.join(PREFIX + n for n in BUILTIN_DATA)}.")
    return paths.resources_dir() / BUILTIN_DATA[name].file
