"""Chunked tokenization must equal whole-text tokenization: the chunk boundaries are safe.

The oracle is tiktoken itself: an Encoding built from GPT-2's real ranks, with each of the three
split patterns (GPT-2, GPT-4/cl100k, o200k), encodes the chunks and the whole text.
"""

from __future__ import annotations

import pytest
import regex
import tiktoken
from hypothesis import given, settings
from hypothesis import strategies as st
from tiktoken.load import load_tiktoken_bpe

from gptstudio.core.corpora import DOCUMENT_SEPARATOR, Corpus, load_corpus
from gptstudio.core.corpora.corpus import iter_safe_chunks, last_safe_cut
from gptstudio.core.corpora.stdlib_source import stdlib_corpus
from gptstudio.core.tokenizers.patterns import PATTERNS


@pytest.fixture(scope="module")
def gpt2_ranks(shared_data):
    return load_tiktoken_bpe(str(shared_data / "gpt2.tiktoken"))


@pytest.fixture(scope="module", params=sorted(PATTERNS))
def encoding(request, gpt2_ranks):
    """GPT-2's ranks with each split pattern (ranks are byte-level, so any pattern works)."""
    return tiktoken.Encoding(
        name=f"gpt2-ranks-{request.param}",
        pat_str=PATTERNS[request.param],
        mergeable_ranks=gpt2_ranks,
        special_tokens={DOCUMENT_SEPARATOR: 50256},
    )


def chunked_ids(encoding, corpus, chunk_chars):
    ids = []
    for chunk in corpus.iter_chunks(chunk_chars):
        ids.extend(encoding.encode(chunk, allowed_special="all"))
    return ids


def test_chunks_concatenate_to_the_text_and_respect_the_size():
    text = "".join(f"Line {i} of the text.\n" for i in range(2000))
    chunks = list(Corpus("t", "m", text=text).iter_chunks(1000))
    assert "".join(chunks) == text
    assert len(chunks) > 40
    assert all(len(c) <= 1000 for c in chunks)
    assert all(c.endswith("\n") for c in chunks[:-1])


def test_chunk_grows_when_no_safe_boundary_is_near():
    # Blank-line-separated words: "\n\nX" is never a safe cut, so only the separator is.
    text = "word\n\n" * 100 + DOCUMENT_SEPARATOR + "tail"
    chunks = list(iter_safe_chunks([text], 50))
    assert chunks == [text[: text.index(DOCUMENT_SEPARATOR) + len(DOCUMENT_SEPARATOR)], "tail"]


def test_text_without_any_safe_boundary_stays_whole():
    text = "x" * 500
    assert list(iter_safe_chunks(iter(text[i : i + 7] for i in range(0, 500, 7)), 50)) == [text]


@pytest.mark.parametrize(
    "text, cut",
    [
        ("Hello.\nWorld", 7),  # the one safe kind of newline cut
        ("Hello.\n\nWorld", None),  # GPT-2: "\n\nW" is "\n" + "\n" + "W", an end "\n\n" one piece
        ("Hello \nWorld", None),  # whitespace before the newline
        ("Hello.\n World", None),  # whitespace after it
        ("Hello.\n/World", None),  # o200k glues "/" to ".\n"
        ("Hello.\r\nWorld", None),
        ("a" + DOCUMENT_SEPARATOR + " b", 1 + len(DOCUMENT_SEPARATOR)),  # always safe
    ],
)
def test_which_cuts_are_safe(text, cut):
    assert last_safe_cut(text, 1, len(text) - 1) == cut


def test_unsafe_cut_would_really_change_gpt2_tokens(gpt2_ranks):
    """Why "\\n\\n" is not a boundary: GPT-2 splits the whole text differently from the chunks."""
    enc = tiktoken.Encoding("g", pat_str=PATTERNS["gpt2"], mergeable_ranks=gpt2_ranks,
                            special_tokens={})
    assert enc.encode("Hi.\n\nThe") != enc.encode("Hi.\n\n") + enc.encode("The")
    assert enc.encode("Hi.\nThe") == enc.encode("Hi.\n") + enc.encode("The")


def test_chunked_equals_whole_on_shakespeare(encoding, shared_data):
    corpus = load_corpus(shared_data / "tinyshakespeare.txt")
    whole = encoding.encode(corpus.text, allowed_special="all")
    assert chunked_ids(encoding, corpus, 20_000) == whole


def test_chunked_equals_whole_on_python_source(encoding):
    corpus = stdlib_corpus(max_chars=400_000)  # indentation, blank lines, documents
    whole = encoding.encode(corpus.text, allowed_special="all")
    assert chunked_ids(encoding, corpus, 3_000) == whole


def test_chunked_equals_whole_on_a_folder_of_documents(encoding, tmp_path, shared_data):
    verdict = (shared_data / "the-verdict.txt").read_text(encoding="utf-8")
    for i in range(4):
        (tmp_path / f"{i}.txt").write_text(verdict[i * 4000 : (i + 1) * 4000], encoding="utf-8")
    corpus = load_corpus(tmp_path)
    whole = encoding.encode(corpus.text, allowed_special="all")
    assert chunked_ids(encoding, corpus, 700) == whole


_pieces = st.sampled_from(
    ["\n", "\n\n", " ", "  ", "\t", "\r", "/", ".", ",", "'s", "'", "-", "é", "e\u0301", "字",
     "🦊", "1", "123", "\u00a0", "\u2028", "\x1c", "\u200b", "A", "a", "Zz", "x",
     DOCUMENT_SEPARATOR]
)


def _pretokenize(text, pattern):
    """The pieces a tokenizer with allowed_special="all" would merge within, in order."""
    splitter = regex.compile(PATTERNS[pattern])
    out = []
    for i, segment in enumerate(text.split(DOCUMENT_SEPARATOR)):
        if i:
            out.append(DOCUMENT_SEPARATOR)
        out.extend(splitter.findall(segment))
    return out


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(_pieces, max_size=40), pattern=st.sampled_from(sorted(PATTERNS)))
def test_every_safe_cut_keeps_the_pretokenization(parts, pattern):
    """Random text of tricky characters: cutting at any safe boundary changes no piece."""
    text = "".join(parts)
    whole = _pretokenize(text, pattern)
    for cut in range(1, len(text)):
        if last_safe_cut(text, cut, cut) == cut:
            assert _pretokenize(text[:cut], pattern) + _pretokenize(text[cut:], pattern) == whole


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(_pieces, max_size=60), chunk=st.integers(1, 12),
       pattern=st.sampled_from(sorted(PATTERNS)))
def test_chunking_keeps_the_pretokenization(parts, chunk, pattern):
    text = "".join(parts)
    chunks = list(iter_safe_chunks([text], chunk))
    assert "".join(chunks) == text
    assert [p for c in chunks for p in _pretokenize(c, pattern)] == _pretokenize(text, pattern)


def test_chunked_equals_whole_with_our_tokenizers(shared_data):
    """Our char and BPE tokenizers, as tokenize_corpus uses them (allowed_special="all")."""
    from gptstudio.core.tokenizers import BPETokenizer, CharTokenizer

    text = (shared_data / "the-verdict.txt").read_text(encoding="utf-8")
    corpus = Corpus("verdict", "m", text=text[:10_000] + DOCUMENT_SEPARATOR + text[10_000:])
    tokenizers = [
        CharTokenizer.from_text(corpus.text),
        BPETokenizer.train(corpus.text, 400, pattern="gpt2"),
        BPETokenizer.train(corpus.text, 400, pattern="gpt4"),
    ]
    for tok in tokenizers:
        whole = tok.encode(corpus.text, allowed_special="all")
        chunked = [i for c in corpus.iter_chunks(500) for i in tok.encode(c, allowed_special="all")]
        assert chunked == whole, tok.name


@settings(max_examples=300, deadline=None)
@given(parts=st.lists(_pieces, max_size=80), chunk=st.integers(1, 15), data=st.data())
def test_chunks_do_not_depend_on_how_the_text_is_streamed(parts, chunk, data):
    """A file read in blocks gives the same chunks as the same text held in memory."""
    text = "".join(parts)
    cuts = sorted(data.draw(st.sets(st.integers(0, len(text)), max_size=10)))
    blocks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
    assert list(iter_safe_chunks(blocks, chunk)) == list(iter_safe_chunks([text], chunk))


def test_docstring_examples():
    import doctest

    from gptstudio.core.corpora import corpus

    assert doctest.testmod(corpus).failed == 0


def test_a_newline_right_after_a_cut_is_judged_with_the_text_before_it():
    # Found by hypothesis: streamed as two blocks, the newline after a separator lost the
    # character before it and was not recognised as a safe cut.
    text = "<|endoftext|>\né"
    whole = list(iter_safe_chunks([text], 1))
    assert whole == ["<|endoftext|>", "\n", "é"]
    assert list(iter_safe_chunks([text[:13], text[13:]], 1)) == whole
