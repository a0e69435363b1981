"""Labelled texts for a classifier: reading a TSV or CSV of (label, text), and splitting it.

Formats, by the file's name:
- `.csv`: comma-separated with quotes where needed (Python's csv module, strict). A header row
  naming a `label` and a `text` column (any case, any order, other columns ignored) is used as
  such; otherwise the first column is the label and the second the text.
- anything else (`.tsv`, `.txt`, or no suffix, like the SMS Spam Collection's own
  `SMSSpamCollection` file): one example per line, the label, a tab, then the text (`ham<TAB>
  Ok lar...`); everything after the first tab is the text, quotes included. A `label<TAB>text`
  header line is skipped.
Blank lines are skipped. Every problem names the file and the line: a line without a label or a
text, an unclosed quote, a class with a single example (it could not be both learned and
checked), a file with one class only.

Label names are kept as written and numbered in sorted order ("ham" = 0, "spam" = 1).
`split_labelled` makes a *stratified* split: each class is shuffled (seeded) and cut into
train / val / test by the same fractions, so every split has the classes in the file's
proportions (the book's 70 / 10 / 20 by default). `balance=True` first undersamples every class
to the size of the smallest (the book's `create_balanced_dataset`).
Left out: tokenizing and padding (`classification.py`).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gptstudio.core.corpora import read_text_file
from gptstudio.core.errors import DatasetError


@dataclass(frozen=True)
class LabelledTexts:
    """Texts with class ids into `labels`, and the file line each came from."""

    labels: tuple[str, ...]
    texts: tuple[str, ...]
    targets: tuple[int, ...]  # index into labels
    lines: tuple[int, ...]  # 1-based line in the file (of the record's end, for CSV)
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def class_counts(self) -> list[int]:
        return np.bincount(np.asarray(self.targets, dtype=np.int64),
                           minlength=len(self.labels)).tolist()

    def subset(self, indices: np.ndarray) -> LabelledTexts:
        return LabelledTexts(self.labels, tuple(self.texts[i] for i in indices),
                             tuple(self.targets[i] for i in indices),
                             tuple(self.lines[i] for i in indices), self.source)


@dataclass(frozen=True)
class LabelledSplits:
    """A stratified train / val / test split of one file's examples (same label list)."""

    train: LabelledTexts
    val: LabelledTexts
    test: LabelledTexts

    @property
    def labels(self) -> tuple[str, ...]:
        return self.train.labels


def read_labelled(path: str | os.PathLike, text: str | None = None) -> LabelledTexts:
    """The examples of a TSV/CSV file (see the module docstring); `text`: its contents, if
    already read. DatasetError naming the file and line for anything that cannot be used."""
    path = Path(path)
    if text is None:
        text = read_text_file(path)  # strict UTF-8: CorpusError with the byte offset
    rows = _csv_rows(path, text) if path.suffix.lower() == ".csv" else _tsv_rows(path, text)
    where = path.name
    pairs: list[tuple[str, str, int]] = []
    for label, body, line in rows:
        label, body = label.strip(), body.strip()
        if not label:
            raise DatasetError(f"{where}, line {line}: the label is empty.")
        if not body:
            raise DatasetError(f"{where}, line {line}: the text of this {label!r} example is "
                               "empty.")
        pairs.append((label, body, line))
    if not pairs:
        raise DatasetError(f"{where} holds no examples (expected lines of label<TAB>text, or "
                           "a CSV with label and text columns).")
    labels = tuple(sorted({label for label, _, _ in pairs}))
    if len(labels) < 2:
        raise DatasetError(f"{where} has one class only ({labels[0]!r}): a classifier needs "
                           "examples of at least two.")
    ids = {label: i for i, label in enumerate(labels)}
    counts = {label: 0 for label in labels}
    first_line = {}
    for label, _, line in pairs:
        counts[label] += 1
        first_line.setdefault(label, line)
    single = [label for label in labels if counts[label] == 1]
    if single:
        raise DatasetError(f"{where}, line {first_line[single[0]]}: the label {single[0]!r} "
                           "has a single example; a class needs at least two (one to learn "
                           "from, one to check on). Add examples or remove it.")
    return LabelledTexts(labels, tuple(b for _, b, _ in pairs),
                         tuple(ids[label] for label, _, _ in pairs),
                         tuple(line for _, _, line in pairs), str(path))


def _tsv_rows(path: Path, text: str) -> list[tuple[str, str, int]]:
    rows = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        label, tab, body = line.partition("\t")
        if not tab:
            raise DatasetError(f"{path.name}, line {number}: no tab between the label and the "
                               "text (expected label<TAB>text, as in the SMS Spam Collection; "
                               "a comma-separated file needs the .csv suffix).")
        if number == 1 and label.strip().lower() == "label" and body.strip().lower() == "text":
            continue  # a header
        rows.append((label, body, number))
    return rows


def _csv_rows(path: Path, text: str) -> list[tuple[str, str, int]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[str, str, int]] = []
    columns = (0, 1)
    try:
        for i, row in enumerate(reader):
            if not any(cell.strip() for cell in row):
                continue
            if i == 0:
                names = [cell.strip().lower() for cell in row]
                if "label" in names and "text" in names:
                    columns = (names.index("label"), names.index("text"))
                    continue
            if len(row) <= max(columns):
                raise DatasetError(f"{path.name}, line {reader.line_num}: {len(row)} column(s), "
                                   f"but a label and a text are needed.")
            rows.append((row[columns[0]], row[columns[1]], reader.line_num))
    except csv.Error as exc:
        raise DatasetError(f"{path.name}, line {reader.line_num}: not valid CSV ({exc}).") \
            from None
    return rows


def balance_classes(data: LabelledTexts, *, seed: int) -> LabelledTexts:
    """Every class undersampled (seeded) to the smallest class's size, in file order."""
    targets = np.asarray(data.targets)
    smallest = min(data.class_counts())
    rng = np.random.default_rng([seed, 1])
    keep = np.concatenate([rng.permutation(np.flatnonzero(targets == c))[:smallest]
                           for c in range(len(data.labels))])
    return data.subset(np.sort(keep))


def split_labelled(data: LabelledTexts, *, val_fraction: float = 0.1,
                   test_fraction: float = 0.2, seed: int = 0,
                   balance: bool = False) -> LabelledSplits:
    """A stratified, seeded train / val / test split (see the module docstring)."""
    if not (0 < val_fraction < 1 and 0 <= test_fraction < 1
            and val_fraction + test_fraction < 1):
        raise DatasetError(f"The validation ({val_fraction}) and test ({test_fraction}) "
                           "fractions must be between 0 and 1 and leave examples to train on.")
    if balance:
        data = balance_classes(data, seed=seed)
    targets = np.asarray(data.targets)
    rng = np.random.default_rng([seed, 2])
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    classes = [rng.permutation(np.flatnonzero(targets == c)) for c in range(len(data.labels))]
    n_vals = [int(round(len(m) * val_fraction)) for m in classes]
    if not sum(n_vals):  # tiny classes round to nothing: the largest lends one to validation
        n_vals[int(np.argmax([len(m) for m in classes]))] = 1
    for members, n_val in zip(classes, n_vals):
        n_test = int(round(len(members) * test_fraction))
        n_val = min(n_val, len(members) - 1)  # at least one example to learn each class from
        n_test = min(n_test, len(members) - 1 - n_val)
        parts["val"].append(members[:n_val])
        parts["test"].append(members[n_val:n_val + n_test])
        parts["train"].append(members[n_val + n_test:])
    # Shuffled across classes, seeded: a split read in order does not come class by class.
    splits = {name: data.subset(rng.permutation(np.concatenate(chunks)))
              for name, chunks in parts.items()}
    if not len(splits["val"]):
        raise DatasetError(f"{Path(data.source).name or 'The data'} is too small to hold out a "
                           f"validation example ({len(data)} examples at a validation fraction "
                           f"of {val_fraction}); add examples or raise the fraction.")
    return LabelledSplits(splits["train"], splits["val"], splits["test"])
