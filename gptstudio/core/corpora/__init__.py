"""Corpora: the raw text a model learns from — files, bundled texts, generated tasks, downloads.

    corpus.py         the `Corpus` and its safe chunking for streamed tokenization
    files.py          strict reading of a text file or a folder of them
    synthetic.py      seeded task generators (copy, reverse, sort, addition, stories)
    stdlib_source.py  the standard library's source as a code corpus
    download.py       cached, checksummed, resumable downloads of public corpora (via core.net)
    builtin.py        the menu of built-in corpora
    spec.py           a corpus choice as a string: `resolve_corpus`, `corpus_label`

Turning text into token ids is `gptstudio.core.data`'s job.
"""

from gptstudio.core.corpora.builtin import (
    BUILTIN_CORPORA,
    DEFAULT_CORPUS,
    BuiltinCorpusInfo,
    load_builtin,
)
from gptstudio.core.corpora.corpus import DOCUMENT_SEPARATOR, Corpus
from gptstudio.core.corpora.download import KNOWN_DOWNLOADS, KnownCorpus, download, download_known
from gptstudio.core.corpora.files import ReadProgress, load_corpus, read_text_file
from gptstudio.core.corpora.spec import canonical_corpus_spec, corpus_label, resolve_corpus
from gptstudio.core.corpora.stdlib_source import stdlib_corpus
from gptstudio.core.corpora.synthetic import TASKS, ideal_attention, solve, synthetic_text
from gptstudio.core.net import DownloadProgress

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
    "ReadProgress",
    "canonical_corpus_spec",
    "corpus_label",
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
