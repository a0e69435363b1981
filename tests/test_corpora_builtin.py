"""The built-in corpora menu, the bundled fables, and resolving what a person typed."""

from __future__ import annotations

import pytest

from gptstudio.core.corpora import (
    BUILTIN_CORPORA,
    DEFAULT_CORPUS,
    DOCUMENT_SEPARATOR,
    load_builtin,
    resolve_corpus,
)
from gptstudio.core.corpora.builtin import fables_dir
from gptstudio.core.errors import CorpusError


def test_the_menu_lists_the_documented_corpora():
    assert DEFAULT_CORPUS == "fables"
    assert set(BUILTIN_CORPORA) == {
        "fables", "copy", "reverse", "sort", "addition", "stories", "python-stdlib"
    }
    for name, info in BUILTIN_CORPORA.items():
        assert info.name == name
        assert info.kind in {"prose", "task", "code"}
        assert info.description.endswith(".")


def test_bundled_fables_are_at_least_100_kb_of_prose():
    corpus = load_builtin("fables")
    assert corpus.n_bytes >= 100_000
    assert corpus.source == "builtin:fables" and corpus.name == "fables"
    assert len(corpus.paths) >= 2 and all(p.parent == fables_dir() for p in corpus.paths)
    assert corpus.text.count(DOCUMENT_SEPARATOR) == len(corpus.paths) - 1
    words = corpus.text.split()
    assert len(words) > 15_000 and sum(w.isalpha() for w in words) / len(words) > 0.7


@pytest.mark.parametrize("name", ["copy", "reverse", "sort", "addition", "stories"])
def test_generated_corpora_take_seed_and_size(name):
    corpus = load_builtin(name, seed=4, size=3000)
    assert 3000 <= corpus.n_chars < 3400
    assert corpus.source == f"builtin:{name}"
    assert corpus.text == load_builtin(name, seed=4, size=3000).text
    assert corpus.text != load_builtin(name, seed=5, size=3000).text


def test_python_stdlib_size_is_capped():
    corpus = load_builtin("python-stdlib", size=100_000)
    assert 50_000 < corpus.n_chars <= 100_000
    assert "def " in corpus.text and corpus.paths[0].suffix == ".py"


def test_resolve_corpus_forms(tmp_path):
    assert resolve_corpus("builtin:copy").text == load_builtin("copy").text
    (tmp_path / "mine.txt").write_text("my own text\n", encoding="utf-8")
    corpus = resolve_corpus(str(tmp_path / "mine.txt"))
    assert (corpus.name, corpus.text) == ("mine", "my own text\n")


def test_unknown_names_are_clear_errors(tmp_path):
    with pytest.raises(CorpusError, match="no built-in corpus 'poems'.*fables"):
        load_builtin("poems")
    with pytest.raises(CorpusError, match="no built-in corpus"):
        resolve_corpus("builtin:poems")
    with pytest.raises(CorpusError, match="Unknown corpus 'nope'.*tinyshakespeare"):
        resolve_corpus("download:nope")
    with pytest.raises(CorpusError, match="does not exist"):
        resolve_corpus(str(tmp_path / "missing.txt"))


def test_missing_fables_folder_says_to_reinstall(tmp_path, monkeypatch):
    from gptstudio import paths

    monkeypatch.setattr(paths, "resources_dir", lambda: tmp_path)
    with pytest.raises(CorpusError, match="'fables' is missing.*reinstall"):
        load_builtin("fables")
