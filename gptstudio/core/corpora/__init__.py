"""Corpora: the raw text a model learns from — files, bundled texts, generated tasks, downloads.

    corpus.py         the `Corpus` and its safe chunking for streamed tokenization
    files.py          strict reading of a text file or a folder of them
    synthetic.py      seeded task generators (copy, reverse, sort, addition, stories)
    stdlib_source.py  the standard library's source as a code corpus
    download.py       cached, checksummed, resumable downloads of public corpora
    builtin.py        the menu of built-in corpora and `resolve_corpus`

Turning text into token ids is `gptstudio.core.data`'s job.
"""

from gptstudio.core.corpora.builtin import (
    BUILTIN_CORPORA,
    DEFAULT_CORPUS,
    BuiltinCorpusInfo,
    load_builtin,
    resolve_corpus,
)
from gptstudio.core.corpora.corpus import DOCUMENT_SEPARATOR, Corpus
from gptstudio.core.corpora.download import (
    KNOWN_DOWNLOADS,
    DownloadProgress,
    KnownCorpus,
    download,
    download_known,
)
from gptstudio.core.corpora.files import load_corpus, read_text_file
from gptstudio.core.corpora.stdlib_source import stdlib_corpus
from gptstudio.core.corpora.synthetic import TASKS, ideal_attention, solve, synthetic_text

__all__ = [
    "BUILTIN_CORPORA",
    "DEFAULT_CORPUS",
    "DOCUMENT_SEPARATOR",
    "KNOWN_DOWNLOADS",
    "TASKS",
    "BuiltinCorpusInfo",
    "Corpus",
    "DownloadProgress",
    "KnownCorpus",
    "download",
    "download_known",
    "ideal_attention",
    "load_builtin",
    "load_corpus",
    "read_text_file",
    "resolve_corpus",
    "solve",
    "stdlib_corpus",
    "synthetic_text",
]
