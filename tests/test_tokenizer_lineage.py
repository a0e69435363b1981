"""Why this token? The merges that built a BPE token (core's `tokenizers.lineage`), a BPE cut
to its first merges, and the vocabulary browser's search (`tokenizers.vocab`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiktoken.load import load_tiktoken_bpe

from gptstudio.core.corpora import load_builtin
from gptstudio.core.errors import TokenizerError
from gptstudio.core.tokenizers import BPETokenizer, CharTokenizer, TiktokenTokenizer
from gptstudio.core.tokenizers.lineage import token_lineage, token_parents, with_first_merges
from gptstudio.core.tokenizers.pieces import readable, visible
from gptstudio.core.tokenizers.vocab import search_vocabulary, vocabulary


@pytest.fixture(scope="module")
def fables_text() -> str:
    return load_builtin("fables").text[:40_000]


@pytest.fixture(scope="module")
def trained(fables_text) -> BPETokenizer:
    return BPETokenizer.train(fables_text, 400)


@pytest.fixture(scope="module")
def gpt2(shared_data: Path) -> TiktokenTokenizer:
    return TiktokenTokenizer.from_file(shared_data / "gpt2.tiktoken")


def check_lineage(tokenizer, token_id: int) -> None:
    """The steps build the token from its bytes: each joins two tokens present, lowest rank
    first, and the last one is the token itself."""
    lineage = token_lineage(tokenizer, token_id)
    data = tokenizer.token_bytes(token_id)
    assert b"".join(tokenizer.token_bytes(i) for i in lineage.byte_ids) == data
    assert all(len(tokenizer.token_bytes(i)) == 1 for i in lineage.byte_ids)
    ranks = [s.rank for s in lineage.steps]
    assert ranks == sorted(ranks) and ranks[-1] == token_id
    made = set(lineage.byte_ids)
    for step in lineage.steps:
        assert step.left in made and step.right in made  # parents exist before the join
        assert tokenizer.token_bytes(step.left) + tokenizer.token_bytes(step.right) == \
            tokenizer.token_bytes(step.rank)
        assert step.left < step.rank and step.right < step.rank
        made.add(step.rank)


def test_a_trained_bpes_lineage_follows_its_merge_list(trained):
    for token_id in range(256, trained.n_ordinary):
        assert token_parents(trained, token_id) == trained.merges[token_id - 256]
    for token_id in (300, trained.n_ordinary - 1):
        check_lineage(trained, token_id)


def test_gpt2_lineage_is_recovered_from_the_rank_file_alone(gpt2, shared_data: Path):
    ranks = load_tiktoken_bpe(str(shared_data / "gpt2.tiktoken"))  # tiktoken's own reader
    for word in (" learning", " tokenization", "ization", " the", " Hello"):
        for token_id in gpt2.encode(word):
            assert gpt2.token_bytes(token_id) in ranks and ranks[gpt2.token_bytes(token_id)] \
                == token_id
            if token_id >= 256:
                check_lineage(gpt2, token_id)
    assert token_lineage(gpt2, 50256).kind == "special"
    assert token_lineage(gpt2, gpt2.encode("a")[0]).kind == "byte"


def test_characters_and_specials_have_no_merges():
    tok = CharTokenizer.from_text("ab")
    assert token_lineage(tok, 0).kind == "char" and token_parents(tok, 0) is None
    assert token_lineage(tok, tok.eot_id).kind == "special"
    with pytest.raises(TokenizerError):
        token_lineage(tok, 99)


def test_the_first_n_merges_tokenize_as_a_bpe_trained_that_far(fables_text, trained):
    # Training is greedy and deterministic: stopping after n merges gives the same tokenizer.
    sample = "The fox looked into the well and saw the moon. Café!"
    for n in (0, 10, 77, trained.n_ordinary - 256):
        short = BPETokenizer.train(fables_text, 257 + n)
        cut = with_first_merges(trained, n)
        assert cut.merges == short.merges
        assert cut.encode(sample, allowed_special="all") == short.encode(sample,
                                                                         allowed_special="all")
        assert cut.eot_id == 256 + n
    with pytest.raises(TokenizerError, match="merges; choose"):
        with_first_merges(trained, trained.n_ordinary)
    with pytest.raises(TokenizerError, match="no merges"):
        with_first_merges(CharTokenizer.from_text("ab"), 0)  # type: ignore[arg-type]


def test_vocabulary_search_and_sort_match_a_plain_recomputation(gpt2):
    vocab = vocabulary(gpt2)
    assert len(vocab) == gpt2.vocab_size and vocab.special[50256]
    pieces = [visible(readable(gpt2.token_bytes(i))) for i in range(gpt2.vocab_size)]
    assert list(vocab.pieces) == pieces
    found = search_vocabulary(vocab, "␣the").tolist()
    assert found == [i for i, p in enumerate(pieces) if "␣the" in p]
    longest = search_vocabulary(vocab, "␣the", order="length").tolist()
    lengths = [len(gpt2.token_bytes(i)) for i in longest]
    assert sorted(longest) == found and lengths == sorted(lengths, reverse=True)
    assert search_vocabulary(vocab, "50256").tolist()[-1] == 50256
    assert len(search_vocabulary(vocab, "")) == gpt2.vocab_size
    with pytest.raises(TokenizerError, match="rank"):
        search_vocabulary(vocab, "", order="alphabet")  # type: ignore[arg-type]
