"""BPE encoding: the readable pure-Python encoder and the tiktoken fast path give identical ids.

Oracles: tiktoken on the same ranks, and GPT-2's real rank file (gpt2.tiktoken).
"""

from __future__ import annotations

import pytest
import tiktoken
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiktoken.load import load_tiktoken_bpe
from tiktoken_ext.openai_public import r50k_pat_str

from gptstudio.core.errors import TokenizerError
from gptstudio.core.tokenizers import ENDOFTEXT, BPETokenizer, TiktokenTokenizer
from gptstudio.core.tokenizers.bpe import bpe_encode_piece, check_ranks, ranks_from_merges
from gptstudio.paths import resources_dir


@pytest.fixture(scope="module")
def shakespeare(shared_data) -> str:
    return (shared_data / "tinyshakespeare.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def trained(shakespeare) -> dict[str, BPETokenizer]:
    """BPEs trained on Tiny Shakespeare with each split pattern."""
    return {
        "gpt2": BPETokenizer.train(shakespeare, 512, pattern="gpt2"),
        "gpt4": BPETokenizer.train(shakespeare, 1024, pattern="gpt4"),
    }


@pytest.fixture(scope="module")
def gpt2(shared_data) -> TiktokenTokenizer:
    return TiktokenTokenizer.from_file(shared_data / "gpt2.tiktoken")


@pytest.fixture(scope="module")
def gpt2_oracle(shared_data) -> tiktoken.Encoding:
    """GPT-2 as tiktoken defines it, built without any of our code."""
    return tiktoken.Encoding(
        "gpt2-oracle", pat_str=r50k_pat_str,
        mergeable_ranks=load_tiktoken_bpe(str(shared_data / "gpt2.tiktoken")),
        special_tokens={ENDOFTEXT: 50256},
    )


def test_piece_encoding_merges_the_lowest_rank_pair_first():
    ranks = {bytes([b]): b for b in range(256)} | {b"ll": 256, b"he": 257, b"hell": 258}
    assert bpe_encode_piece(b"hello", ranks) == [b"hell", b"o"]
    assert bpe_encode_piece(b"hello", ranks, max_rank=258) == [b"he", b"ll", b"o"]
    assert bpe_encode_piece(b"", ranks) == []


def test_bundled_corpus_slow_equals_fast():
    files = sorted((resources_dir() / "corpora").rglob("*.txt"))
    if not files:
        pytest.skip("resources/corpora has no .txt corpus yet (it is written by another part)")
    text = "\n".join(f.read_text(encoding="utf-8") for f in files)
    for pattern in ("gpt2", "gpt4"):
        tok = BPETokenizer.train(text, 1024, pattern=pattern)
        assert tok.encode_slow(text) == tok.encode(text)
        assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("pattern", ["gpt2", "gpt4"])
def test_tinyshakespeare_slow_equals_fast(trained, shakespeare, pattern):
    tok = trained[pattern]
    ids = tok.encode(shakespeare)
    assert tok.encode_slow(shakespeare) == ids
    assert tok.decode(ids) == shakespeare
    # The fast path is tiktoken itself, fed with exactly our ranks.
    direct = tiktoken.Encoding("direct", pat_str=tok.pattern_regex, mergeable_ranks=tok.ranks,
                               special_tokens=tok.special_tokens)
    assert direct.encode_ordinary(shakespeare) == ids


# Random Unicode: any assigned character, plus the troublemakers the issue names. Code points
# unassigned in Python's Unicode tables are left out: the `regex` module and tiktoken's Rust
# regex ship different Unicode versions and may classify a not-yet-assigned code point
# differently (we saw U+32EC8 read as a letter by one and not the other).
TRICKY = ["👍🏽", "👨‍👩‍👧", "🇫🇷", "漢字", "日本語のテキスト", "e\u0301", "a\u0308\u0323",
          "   ", "\t\t", "\n\n\n", " \n ", "\r\n", "\x00", "\u00a0", "\u3000", "'s", "'LL",
          "123456", "<|", "|>", ENDOFTEXT]
unicode_text = st.lists(
    st.one_of(st.text(st.characters(exclude_categories=("Cs", "Cn")), max_size=12),
              st.sampled_from(TRICKY)),
    max_size=12,
).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=unicode_text)
def test_random_unicode_slow_equals_fast(trained, gpt2, gpt2_oracle, text):
    for tok in (*trained.values(), gpt2):
        ids = tok.encode(text, allowed_special="all")
        assert tok.encode_slow(text, allowed_special="all") == ids
        assert tok.decode(ids) == text
        assert tok.decode(tok.encode_ordinary(text)) == text
    assert gpt2.encode_slow(text, "all") == gpt2_oracle.encode(text, allowed_special="all")


def test_lone_surrogates_are_handled_like_tiktoken(trained):
    tok = trained["gpt2"]
    text = "a\ud800b\ud83d\ude00"  # a lone surrogate and a surrogate pair
    assert tok.encode_slow(text) == tok.encode(text)


def test_gpt2_hello_world(gpt2):
    assert gpt2.encode_slow("Hello world") == [15496, 995]
    assert gpt2.encode("Hello world") == [15496, 995]
    assert gpt2.vocab_size == 50257 and gpt2.eot_id == 50256
    assert gpt2.encode_slow(f"Hi{ENDOFTEXT}", allowed_special="all") == [17250, 50256]


def test_our_pure_python_encoder_reproduces_gpt2_on_real_text(gpt2, gpt2_oracle, shared_data,
                                                              shakespeare):
    verdict = (shared_data / "the-verdict.txt").read_text(encoding="utf-8")
    assert len(gpt2.encode_slow(verdict)) == 5145  # the token count the book quotes
    for text in (verdict, shakespeare[:200_000]):
        assert gpt2.encode_slow(text) == gpt2_oracle.encode_ordinary(text)


def test_bpe_from_gpt2_ranks_recovers_its_merges(gpt2, gpt2_oracle, shared_data):
    ranks = gpt2.ranks
    tok = BPETokenizer.from_ranks(ranks)  # <|endoftext|> after the last rank, as in GPT-2
    assert tok.special_tokens == {ENDOFTEXT: 50256}
    merges = tok.merges
    assert len(merges) == 50000
    assert tok.token_bytes(merges[0][0]) + tok.token_bytes(merges[0][1]) == b" t"
    assert ranks_from_merges(merges, tok.byte_ids) == ranks  # the merges rebuild every rank
    text = "GPT Studio's tokenizer: naïve café, 1234 ✓"
    assert tok.encode_slow(text) == gpt2_oracle.encode_ordinary(text)


def test_special_tokens_follow_the_allowed_special_policy(trained):
    tok = trained["gpt2"]
    text = f"To be{ENDOFTEXT}or not"
    for encode in (tok.encode, tok.encode_slow):
        with pytest.raises(TokenizerError, match=r"'<\|endoftext\|>' at position 5"):
            encode(text)
        ids = encode(text, allowed_special="all")
        assert ids.count(tok.eot_id) == 1 and tok.decode(ids) == text
        assert encode(text, allowed_special={ENDOFTEXT}) == ids
    plain = tok.encode_ordinary(text)
    assert tok.eot_id not in plain and tok.decode(plain) == text


def test_decode_replaces_broken_utf8_and_refuses_unknown_ids(trained):
    tok = trained["gpt2"]
    euro = tok.encode("€")  # three bytes, never merged in Shakespeare
    assert euro == [0xE2, 0x82, 0xAC] and tok.decode(euro[:2]) == "\ufffd"
    assert tok.token_str(0xE2) == "\ufffd" and tok.token_bytes(0xE2) == b"\xe2"
    for bad in ([tok.vocab_size], [-1], [1.5]):
        with pytest.raises(TokenizerError):
            tok.decode(bad)


def test_invalid_merge_lists_are_refused():
    with pytest.raises(TokenizerError, match="only ids below 256"):
        BPETokenizer.from_merges([(1, 300)])
    with pytest.raises(TokenizerError, match="same bytes"):
        BPETokenizer.from_merges([(97, 98), (97, 98)])
    with pytest.raises(TokenizerError, match="0..255"):
        BPETokenizer.from_merges([], byte_ids=[0] * 256)


def test_invalid_rank_tables_are_refused():
    byte_ranks = {bytes([b]): b for b in range(256)}
    with pytest.raises(TokenizerError, match="0..N-1"):
        check_ranks(byte_ranks | {b"ab": 300})
    with pytest.raises(TokenizerError, match="single bytes"):
        check_ranks({bytes([b]): b for b in range(255)})
    with pytest.raises(TokenizerError, match="first ranks"):
        check_ranks({**byte_ranks, b"\xff": 256, b"ab": 255})
    with pytest.raises(TokenizerError, match="after the ordinary tokens"):
        BPETokenizer.from_ranks(byte_ranks, special_tokens={ENDOFTEXT: 3})
