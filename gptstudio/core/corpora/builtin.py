"""The corpora that come with GPT Studio, so that the app and the tests work offline.

`BUILTIN_CORPORA` lists them by name: the bundled prose ("fables", the default), the synthetic
tasks of `synthetic.py`, and the standard library's source; `load_builtin(name)` loads one.

Left out: how each kind is produced (see the modules named above), and the spec strings
("builtin:fables", "download:...", URLs, paths) that `spec.py` resolves.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gptstudio import paths
from gptstudio.core.corpora.corpus import Corpus
from gptstudio.core.corpora.files import load_corpus
from gptstudio.core.corpora.stdlib_source import DEFAULT_MAX_CHARS, stdlib_corpus
from gptstudio.core.corpora.synthetic import DEFAULT_SIZE, synthetic_text
from gptstudio.core.errors import CorpusError

DEFAULT_CORPUS = "fables"


@dataclass(frozen=True)
class BuiltinCorpusInfo:
    """One entry of the menu of bundled corpora."""

    name: str
    description: str  # one sentence for the corpus picker
    kind: str  # "prose" | "task" | "code"
    loader: Callable[[int, int | None], Corpus]  # (seed, size) -> Corpus
    default_size: int | None = None  # characters; None: the size is fixed


def fables_dir() -> Path:
    """Where the bundled fables live: one story per .txt file."""
    return paths.resources_dir() / "corpora" / "fables"


def _load_fables(seed: int, size: int | None) -> Corpus:
    # A fixed text: seed and size do not apply.
    folder = fables_dir()
    if not folder.is_dir():
        raise CorpusError(
            f"The bundled corpus 'fables' is missing ({folder}); reinstall GPT Studio."
        )
    return load_corpus(folder, name="fables", source="builtin:fables")


def _synthetic_loader(task: str) -> Callable[[int, int | None], Corpus]:
    def load(seed: int, size: int | None) -> Corpus:
        text = synthetic_text(task, seed=seed, size=DEFAULT_SIZE if size is None else size)
        return Corpus(task, f"builtin:{task}", text=text)

    return load


def _load_stdlib(seed: int, size: int | None) -> Corpus:
    return stdlib_corpus(DEFAULT_MAX_CHARS if size is None else size)


BUILTIN_CORPORA: dict[str, BuiltinCorpusInfo] = {
    "fables": BuiltinCorpusInfo(
        "fables", "Short original fables in simple English, written for GPT Studio.",
        "prose", _load_fables),
    "copy": BuiltinCorpusInfo(
        "copy", 'Copy a few letters: "hbdf|hbdf". Attention looks straight back.',
        "task", _synthetic_loader("copy"), DEFAULT_SIZE),
    "reverse": BuiltinCorpusInfo(
        "reverse", 'Reverse a few letters: "hbdf|fdbh". Attention draws an anti-diagonal.',
        "task", _synthetic_loader("reverse"), DEFAULT_SIZE),
    "sort": BuiltinCorpusInfo(
        "sort", 'Sort a few digits: "3127|1237". Attention finds the next smallest digit.',
        "task", _synthetic_loader("sort"), DEFAULT_SIZE),
    "addition": BuiltinCorpusInfo(
        "addition", 'Add two numbers: "57+8=65". Attention lines up digits of one place value.',
        "task", _synthetic_loader("addition"), DEFAULT_SIZE),
    "stories": BuiltinCorpusInfo(
        "stories", "Tiny generated stories from a small grammar, one per line.",
        "task", _synthetic_loader("stories"), DEFAULT_SIZE),
    "python-stdlib": BuiltinCorpusInfo(
        "python-stdlib", "Python source on this machine: the standard library's .py files.",
        "code", _load_stdlib, DEFAULT_MAX_CHARS),
}


def load_builtin(name: str, *, seed: int = 0, size: int | None = None) -> Corpus:
    """A built-in corpus by name; `seed` and `size` (characters) apply to generated ones."""
    info = BUILTIN_CORPORA.get(name)
    if info is None:
        raise CorpusError(
            f"There is no built-in corpus {name!r}; choose one of {', '.join(BUILTIN_CORPORA)}."
        )
    return info.loader(seed, size)
