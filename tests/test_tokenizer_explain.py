"""What each token of a text is (core's `tokenizers.explain`), checked against plain
recomputations and against tiktoken itself as the oracle for GPT-2's ids and ranks."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import tiktoken
from tiktoken.load import load_tiktoken_bpe

from gptstudio.core.errors import TokenizerError
from gptstudio.core.tokenizers import (
    GPT2_PATTERN, BPETokenizer, CharTokenizer, TiktokenTokenizer,
)
from gptstudio.core.tokenizers.explain import (
    color_slots, explain_text, explanation_dict, shown_part, token_info, token_stats,
)
from gptstudio.core.tokenizers.pieces import display_text, visible

TEXTS = [
    "",
    "Hello world",
    "naïve café, crème brûlée",
    "emoji 🦊🦊 and a 👩‍👩‍👧 family",
    "中文字符 and ᚠᛇᚻ runes",
    "e\u0301 combining accent, tab\there\nnew line\r\n",
    "special <|endoftext|> inside",
    "control \x00\x01\x1b\x7f characters",
]


def random_text(seed: int, n: int = 300) -> str:
    """Random code points from several scripts and planes (no lone surrogates)."""
    rng = random.Random(seed)
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x4E00, 0x4E80), (0x1F600, 0x1F64F),
              (0x0, 0x1F), (0x10000, 0x1007F)]
    chars = []
    for _ in range(n):
        low, high = rng.choice(ranges)
        chars.append(chr(rng.randint(low, high)))
    return "".join(chars)


@pytest.fixture(scope="module")
def gpt2(shared_data: Path) -> TiktokenTokenizer:
    return TiktokenTokenizer.from_file(shared_data / "gpt2.tiktoken")


@pytest.fixture(scope="module")
def gpt2_ranks(shared_data: Path) -> dict[bytes, int]:
    """GPT-2's real rank table, read by tiktoken's own loader (no network)."""
    return load_tiktoken_bpe(str(shared_data / "gpt2.tiktoken"))


@pytest.fixture(scope="module")
def oracle(gpt2_ranks) -> tiktoken.Encoding:
    """GPT-2 as tiktoken itself builds it from the real rank file."""
    return tiktoken.Encoding("gpt2-oracle", pat_str=GPT2_PATTERN, mergeable_ranks=gpt2_ranks,
                             special_tokens={"<|endoftext|>": 50256})


@pytest.fixture(scope="module")
def small_bpe() -> BPETokenizer:
    return BPETokenizer.train("the cat sat on the mat; the hat is flat. " * 30, 300)


def tokenizers(gpt2, small_bpe):
    chars = CharTokenizer.from_text("".join(TEXTS) + "".join(random_text(s) for s in range(5)))
    return [chars, small_bpe, gpt2]


def reference_pieces(tokenizer, text: str, ids: list[int]) -> list[str]:
    """The characters each token completes, recomputed char by char from the token bytes."""
    ends, total = [], 0
    for i in ids:
        total += len(tokenizer.token_bytes(i))
        ends.append(total)
    pieces = ["" for _ in ids]
    position, token = 0, 0
    for ch in text:
        position += len(ch.encode("utf-8"))  # the byte just after this character's last byte
        while ends[token] < position:
            token += 1
        pieces[token] += ch
    return pieces


@pytest.mark.parametrize("text", TEXTS + [random_text(seed) for seed in range(4)])
def test_pieces_rebuild_the_text_and_are_the_characters_each_token_completes(text, gpt2,
                                                                              small_bpe):
    for tokenizer in tokenizers(gpt2, small_bpe):
        spans = explain_text(tokenizer, text)
        assert "".join(spans.pieces()) == text
        ids = tokenizer.encode(text, allowed_special="all")
        assert spans.ids.tolist() == ids
        assert spans.pieces() == reference_pieces(tokenizer, text, ids)
        # Byte offsets: each token's bytes, in order, are the text's bytes.
        data = text.encode("utf-8")
        for i, token_id in enumerate(ids):
            start, end = spans.byte_offsets[i], spans.byte_offsets[i + 1]
            assert data[start:end] == tokenizer.token_bytes(token_id)
        # UTF-16 offsets are what Qt counts.
        for i in range(len(ids)):
            start = int(spans.char_starts[i])
            assert spans.utf16_starts[i] == len(text[:start].encode("utf-16-le")) // 2


def test_split_characters_name_every_token_holding_one_of_their_bytes(small_bpe):
    text = "a é 🦊 中 b"
    spans = explain_text(small_bpe, text)
    data = text.encode("utf-8")
    offsets = spans.byte_offsets.tolist()
    expected = []
    position = 0
    for index, ch in enumerate(text):
        first, last = position, position + len(ch.encode("utf-8")) - 1
        position = last + 1
        holders = [i for i in range(len(spans)) if offsets[i] <= last and offsets[i + 1] > first]
        if len(holders) > 1:
            expected.append((ch, index, tuple(holders)))
    assert [(s.char, s.start, s.tokens) for s in spans.splits] == expected
    assert {s.char for s in spans.splits} == {"é", "🦊", "中"}  # never merged by the small BPE
    assert len(data) == spans.n_bytes
    fox = next(s for s in spans.splits if s.char == "🦊")
    assert len(fox.tokens) == 4 and fox.utf16_start == len("a é ")


def test_gpt2_ids_and_ranks_are_tiktokens(gpt2, oracle, gpt2_ranks):
    text = "The Tokenizer tab: naïve café 🦊, <|endoftext|> then 12345 tokens!"
    spans = explain_text(gpt2, text)
    assert spans.ids.tolist() == oracle.encode(text, allowed_special="all")
    for index in range(len(spans)):
        info = token_info(gpt2, spans, index)
        if info.special:
            assert info.id == 50256 and info.rank is None and info.text == "<|endoftext|>"
            continue
        assert oracle.decode_single_token_bytes(info.id) == info.data
        assert info.rank == gpt2_ranks[info.data]
        assert info.merge == (info.rank - 256 if info.rank >= 256 else None)
        assert info.hex == info.data.hex(" ")


def test_specials_read_as_text_when_asked(gpt2, oracle):
    text = "a <|endoftext|> b"
    spans = explain_text(gpt2, text, allowed_special="none")
    assert spans.ids.tolist() == oracle.encode_ordinary(text)
    assert not spans.special.any() and "".join(spans.pieces()) == text
    chars = CharTokenizer.from_text("ab <|endoftext|>")  # the vocabulary: " ", "a", "b"
    with pytest.raises(TokenizerError, match="'<'"):
        explain_text(chars, text, allowed_special="none")
    chars = CharTokenizer(list("|x<tb a>endfo"))  # unsorted: ids are list positions
    assert explain_text(chars, text, allowed_special="none").ids.tolist() == \
        chars.encode_ordinary(text)
    assert explain_text(chars, text).ids.tolist() == chars.encode(text, allowed_special="all")


def test_character_tokens_have_no_rank_and_unknown_characters_are_named():
    tok = CharTokenizer.from_text("abc")
    spans = explain_text(tok, "cab")
    info = token_info(tok, spans, 0)
    assert (info.id, info.text, info.rank, info.merge, info.special) == (2, "c", None, None, False)
    with pytest.raises(TokenizerError, match="'z'.*position 1"):
        explain_text(tok, "az")
    with pytest.raises(TokenizerError, match="not this text's"):
        explain_text(tok, "abc", ids=[0, 1])
    with pytest.raises(TokenizerError, match="no token 5"):
        token_info(tok, spans, 5)


def test_token_at_finds_the_token_whose_text_holds_a_character(small_bpe):
    text = "the cat é"
    spans = explain_text(small_bpe, text)
    for position in range(len(text)):
        index = spans.token_at(position)
        assert spans.char_starts[index] <= position < spans.char_ends[index]
    assert spans.token_at(len(text)) is None
    split = spans.splits[0]
    assert spans.split_at(split.start) == split and spans.split_at(0) is None


def test_stats_count_tokens_characters_and_bytes(gpt2):
    text = "naïve café " * 10
    stats = token_stats(gpt2, text)
    ids = gpt2.encode(text)
    assert (stats.n_tokens, stats.n_chars, stats.n_bytes) == (len(ids), len(text),
                                                              len(text.encode()))
    assert stats.bytes_per_token == pytest.approx(len(text.encode()) / len(ids))
    assert explain_text(gpt2, text).stats == stats
    empty = token_stats(gpt2, "")
    assert empty.n_tokens == 0 and np.isnan(empty.chars_per_token)


def test_colour_slots_depend_on_the_id_alone_and_neighbours_never_look_alike():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 50_000, size=5_000)
    ids[100:110] = 42  # a run of one token
    slots, shades = color_slots(ids, 12)
    again, _ = color_slots(ids[::-1].copy(), 12)
    assert np.array_equal(again[::-1], slots)  # the same id, the same slot, in any text
    assert set(slots.tolist()) == set(range(12))  # all colours get used
    pairs = list(zip(slots.tolist(), shades.tolist()))
    assert all(pairs[i] != pairs[i + 1] for i in range(len(pairs) - 1))


def test_explanation_dict_is_json_that_rebuilds_the_text(gpt2):
    import json

    text = "Grüße 🦊 <|endoftext|>"
    d = json.loads(json.dumps(explanation_dict(gpt2, explain_text(gpt2, text))))
    assert "".join(d["pieces"]) == text == "".join(t["text"] for t in d["tokens"])
    assert bytes.fromhex(" ".join(t["bytes"] for t in d["tokens"])) == text.encode()
    assert [t["id"] for t in d["tokens"]] == d["ids"] == gpt2.encode(text, allowed_special="all")
    assert all(text[t["start"]:t["end"]] == t["text"] for t in d["tokens"])
    assert d["splits"] and d["splits"][0]["char"] == "🦊"
    assert d["stats"] == {"tokens": len(d["ids"]), "chars": len(text), "bytes": len(text.encode())}


def test_lone_surrogates_are_explained_as_tokenizers_read_them(gpt2):
    spans = explain_text(gpt2, "a\ud800b")
    assert spans.text == "a\ufffdb" and "".join(spans.pieces()) == "a\ufffdb"


def test_display_and_visible_text_change_controls_one_for_one():
    text = "a\x00b\x1b\r\n\tc d\x7f\u2028"
    shown = display_text(text)
    assert len(shown) == len(text) and shown == "a␀b␛␍\n\tc d␡␤"
    assert visible(" \n\t") == "␣↵→"


def test_a_long_text_is_cut_at_a_line_break_for_the_view():
    text = ("line of text\n" * 100)
    part = shown_part(text, 500)
    assert len(part) <= 500 and part.endswith("\n") and text.startswith(part)
    assert shown_part(text, len(text)) == text
    assert shown_part("x" * 50, 10) == "x" * 10
