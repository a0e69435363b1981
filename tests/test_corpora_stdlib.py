"""The standard library's source as a corpus: what is taken, what is skipped, the size cap."""

from __future__ import annotations

import pytest

from gptstudio.core.corpora import DOCUMENT_SEPARATOR
from gptstudio.core.corpora.stdlib_source import collect_stdlib_source, stdlib_dir
from gptstudio.core.errors import CorpusError


def make_tree(root, files: dict[str, bytes]):
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def test_takes_py_files_in_order_and_skips_the_rest(tmp_path):
    make_tree(tmp_path, {
        "b.py": b"b = 2\n",
        "a/__init__.py": b"a = 1\n",
        "latin1.py": "# caf\xe9\n".encode("latin-1"),  # not UTF-8: skipped, counted
        "blob.py": b"\x00\x01",  # binary: skipped, counted
        "empty.py": b"",  # empty: skipped, counted
        "notes.txt": b"not python",
        "test/test_x.py": b"skipped folder",
        "site-packages/pkg.py": b"third party",
        "__pycache__/x.py": b"cache",
    })
    result = collect_stdlib_source(root=tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in result.corpus.paths] == [
        "a/__init__.py", "b.py"
    ]
    assert result.corpus.text == "a = 1\n" + DOCUMENT_SEPARATOR + "b = 2\n"
    assert (result.n_files, result.n_unreadable, result.n_over_cap) == (2, 3, 0)


def test_cap_takes_whole_files_that_fit(tmp_path):
    make_tree(tmp_path, {"a.py": b"x" * 50, "b.py": b"y" * 500, "c.py": b"z" * 30})
    result = collect_stdlib_source(100, root=tmp_path)
    assert result.corpus.text == "x" * 50 + DOCUMENT_SEPARATOR + "z" * 30  # b.py passed over
    assert result.corpus.n_chars <= 100 and result.n_over_cap == 1


def test_nothing_fits_is_an_error(tmp_path):
    make_tree(tmp_path, {"a.py": b"x" * 50})
    with pytest.raises(CorpusError, match="No readable Python file of at most 10 characters"):
        collect_stdlib_source(10, root=tmp_path)
    with pytest.raises(CorpusError, match="at least 1 character"):
        collect_stdlib_source(0, root=tmp_path)


def test_the_real_standard_library():
    assert (stdlib_dir() / "os.py").is_file()
    result = collect_stdlib_source(300_000)
    assert result.n_files > 10
    assert all("site-packages" not in p.parts for p in result.corpus.paths)
    assert "import " in result.corpus.text
