"""Reading text files and folders strictly: encodings, binary/empty files, order, laziness."""

from __future__ import annotations

import io
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gptstudio.core.corpora import DOCUMENT_SEPARATOR, Corpus, load_corpus, read_text_file
from gptstudio.core.corpora.files import decode_text, find_text_files, iter_decoded
from gptstudio.core.errors import ConfigError, CorpusError


def write(path, data: bytes):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# --- one file ---------------------------------------------------------------------------------


def test_reads_utf8_with_and_without_bom(tmp_path):
    text = "Héllo wörld — ✓ 🦊\n"
    plain = write(tmp_path / "plain.txt", text.encode("utf-8"))
    bom = write(tmp_path / "bom.txt", b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert read_text_file(plain) == text
    assert read_text_file(bom) == text  # the BOM is dropped, nothing else


def test_windows_line_ends_become_newlines_even_across_blocks():
    data = b"one\r\ntwo\r\nthree\rfour\r\n"
    # Block size 4 cuts "\r\n" pairs apart ("one\r" | "\ntwo"); the result must not depend on it.
    for block in (4, 5, 1 << 20):
        assert "".join(iter_decoded(io.BytesIO(data), "x", block)) == "one\ntwo\nthree\rfour\n"


def test_nul_byte_marks_a_binary_file_with_its_offset(tmp_path):
    path = write(tmp_path / "image.txt", b"GIF89a" + b"\x00" * 10)
    with pytest.raises(CorpusError, match=r"image\.txt.*binary.*offset 6\b"):
        read_text_file(path)


def test_nul_byte_after_the_first_8000_bytes_is_text():
    data = b"a" * 8000 + b"\x00b"
    assert decode_text(data) == "a" * 8000 + "\x00b"


def test_nul_offset_counts_from_file_start_even_in_a_later_block():
    data = b"a" * 5000 + b"\x00"
    with pytest.raises(CorpusError, match=r"offset 5000\b"):
        "".join(iter_decoded(io.BytesIO(data), "f", 4096))


def test_undecodable_byte_is_reported_with_file_and_offset(tmp_path):
    path = write(tmp_path / "latin1.txt", "café au lait".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"latin1\.txt.*0xe9 at byte offset 3\b"):
        read_text_file(path)


def test_offset_counts_the_bom(tmp_path):
    path = write(tmp_path / "b.txt", b"\xef\xbb\xbfab\xff")
    with pytest.raises(CorpusError, match=r"0xff at byte offset 5\b"):
        read_text_file(path)


def test_character_cut_off_at_end_of_file(tmp_path):
    path = write(tmp_path / "cut.txt", "ok €".encode("utf-8")[:-1])  # € is 3 bytes; keep 2
    with pytest.raises(CorpusError, match=r"cut\.txt.*0xe2 at byte offset 3\b"):
        read_text_file(path)


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf"], ids=["empty", "only-bom"])
def test_empty_file_is_refused(tmp_path, data):
    path = write(tmp_path / "empty.txt", data)
    with pytest.raises(CorpusError, match=r"empty\.txt is empty"):
        read_text_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        read_text_file(tmp_path / "nope.txt")
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope.txt")


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=60), block=st.integers(1, 9))
def test_streaming_decoder_agrees_with_bytes_decode(data, block):
    """Any bytes, any block size: same text as a one-shot decode, or the same bad offset."""
    data = data.replace(b"\x00", b"0").replace(b"\r", b"")  # NULs and CRs have their own tests
    try:
        expected = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
        bad = None
    except UnicodeDecodeError as exc:
        expected, bad = None, exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
    if expected == "":
        with pytest.raises(CorpusError, match="empty"):
            "".join(iter_decoded(io.BytesIO(data), "f", block))
    elif bad is None:
        assert "".join(iter_decoded(io.BytesIO(data), "f", block)) == expected
    else:
        with pytest.raises(CorpusError, match=rf"offset {bad}\b"):
            "".join(iter_decoded(io.BytesIO(data), "f", block))


# --- folders and the Corpus built from them ---------------------------------------------------


def test_folder_is_read_recursively_in_sorted_order(tmp_path):
    write(tmp_path / "b.txt", b"B")
    write(tmp_path / "a" / "z.md", b"AZ")
    write(tmp_path / "a.txt", b"A")
    write(tmp_path / "a" / "c" / "d.TXT", b"ACD")
    write(tmp_path / "notes.rst", b"ignored")
    write(tmp_path / ".hidden.txt", b"ignored")
    write(tmp_path / ".git" / "x.txt", b"ignored")
    corpus = load_corpus(tmp_path)
    names = [p.relative_to(tmp_path).as_posix() for p in corpus.paths]
    assert names == ["a/c/d.TXT", "a/z.md", "a.txt", "b.txt"]
    assert corpus.text == DOCUMENT_SEPARATOR.join(["ACD", "AZ", "A", "B"])
    assert corpus.name == tmp_path.name and corpus.source == str(tmp_path)


def test_folder_order_does_not_depend_on_listing_order(tmp_path, monkeypatch):
    for name in ("c.txt", "a.txt", "b.txt"):
        write(tmp_path / name, name.encode())
    import os

    real_walk = os.walk

    def reversed_walk(*args, **kwargs):  # a file system that lists entries backwards
        for dirpath, dirnames, filenames in real_walk(*args, **kwargs):
            yield dirpath, dirnames, sorted(filenames, reverse=True)

    monkeypatch.setattr(os, "walk", reversed_walk)
    assert [p.name for p in find_text_files(tmp_path)] == ["a.txt", "b.txt", "c.txt"]


def test_folder_without_text_files(tmp_path):
    write(tmp_path / "x.py", b"print()")
    with pytest.raises(CorpusError, match="holds no .txt or .md files"):
        load_corpus(tmp_path)


def test_bad_file_in_folder_is_named_and_nothing_is_returned(tmp_path):
    write(tmp_path / "a.txt", b"fine")
    write(tmp_path / "sub" / "b.txt", b"fine\xc3(")
    with pytest.raises(CorpusError, match=r"b\.txt is not valid UTF-8.*offset 4\b"):
        load_corpus(tmp_path)


def test_file_corpus_is_measured_at_open_and_read_lazily(tmp_path):
    text = "line one\nline two ✓\n" * 50
    path = write(tmp_path / "story.txt", text.encode("utf-8"))
    corpus = load_corpus(path)
    assert "text" not in corpus.__dict__  # nothing held after opening
    assert corpus.name == "story" and corpus.paths == (path,)
    assert (corpus.n_chars, corpus.n_bytes) == (len(text), len(text.encode("utf-8")))
    assert corpus.fingerprint() == Corpus("same", "memory", text=text).fingerprint()
    assert corpus.preview(12) == text[:12]
    assert "".join(corpus.iter_chunks(64)) == text
    assert "text" not in corpus.__dict__  # chunks streamed the file
    assert corpus.text == text


def test_file_changed_after_opening_is_refused(tmp_path):
    path = write(tmp_path / "a.txt", b"first version\n")
    corpus = load_corpus(path)
    path.write_bytes(b"a longer second version\n")
    with pytest.raises(CorpusError, match="changed after the corpus was opened"):
        list(corpus.iter_chunks())


def test_in_memory_corpus():
    corpus = Corpus("demo", "memory", text="abc✓")
    assert (corpus.n_chars, corpus.n_bytes, corpus.paths) == (4, 6, ())
    assert corpus.preview(2) == "ab"
    assert "demo" in repr(corpus) and "abc" not in repr(corpus)  # no multi-GB reprs
    with pytest.raises(CorpusError, match="empty"):
        Corpus("void", "memory", text="")
    with pytest.raises(CorpusError, match="must be a str"):
        Corpus("bytes", "memory", text=b"abc")
    with pytest.raises(ConfigError, match="chunk_chars"):
        corpus.iter_chunks(0)


@pytest.mark.parametrize("encoding, bom_name", [("utf-16", "UTF-16"), ("utf-32", "UTF-32")])
def test_utf16_or_utf32_with_a_bom_is_named_not_called_binary(tmp_path, encoding, bom_name):
    path = tmp_path / "notes.txt"
    path.write_bytes("Hello, world.\n".encode(encoding))  # Python writes the BOM first
    with pytest.raises(CorpusError, match=f"is {bom_name} text.*save it as UTF-8") as raised:
        load_corpus(path).text
    assert "binary" not in str(raised.value)


@pytest.mark.skipif(os.name == "nt", reason="symbolic links need rights on Windows")
def test_a_symlink_loop_or_a_dangling_link_says_so(tmp_path):
    loop = tmp_path / "loop.txt"
    loop.symlink_to(loop)
    with pytest.raises(CorpusError, match="leads back to itself"):
        load_corpus(loop)
    dangling = tmp_path / "gone.txt"
    dangling.symlink_to(tmp_path / "nowhere.txt")
    with pytest.raises(CorpusError, match="nowhere.txt, which does not exist"):
        load_corpus(dangling)
