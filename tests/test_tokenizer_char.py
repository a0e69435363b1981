"""CharTokenizer: vocabulary from a corpus, exact round trips, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from gptstudio.core.errors import TokenizerError
from gptstudio.core.tokenizers import ENDOFTEXT, CharTokenizer


def test_vocabulary_is_sorted_characters_then_special_tokens():
    tok = CharTokenizer.from_text("hello world")
    assert tok.chars == [" ", "d", "e", "h", "l", "o", "r", "w"]
    assert tok.special_tokens == {ENDOFTEXT: 8}
    assert tok.eot_id == 8 and tok.vocab_size == 9
    assert tok.encode("hold") == [3, 5, 4, 1]


def test_tiny_shakespeare_has_65_characters_and_round_trips(shared_data):
    text = (shared_data / "tinyshakespeare.txt").read_text(encoding="utf-8")
    tok = CharTokenizer.from_text(text)
    assert len(tok.chars) == 65  # the classic char-level vocabulary
    ids = tok.encode(text)
    assert len(ids) == len(text)
    assert tok.decode(ids) == text


def test_special_token_strings_in_the_corpus_do_not_become_characters():
    tok = CharTokenizer.from_text(f"ab{ENDOFTEXT}ba")
    assert tok.chars == ["a", "b"]


def test_unknown_character_names_the_character_and_its_position():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(TokenizerError) as info:
        tok.encode("abcaé")
    message = str(info.value)
    assert "'é'" in message and "U+00E9" in message and "position 4" in message


def test_special_tokens_follow_the_allowed_special_policy():
    tok = CharTokenizer.from_text("ab<|>")
    text = f"a{ENDOFTEXT}b"
    with pytest.raises(TokenizerError, match="position 1"):
        tok.encode(text)  # default "none": refuse, never inject a control token silently
    assert tok.encode(text, allowed_special="all") == [tok.encode("a")[0], tok.eot_id,
                                                       tok.encode("b")[0]]
    assert tok.encode(text, allowed_special={ENDOFTEXT}) == tok.encode(text, "all")
    with pytest.raises(TokenizerError, match="'e'"):
        tok.encode_ordinary(text)  # as plain text, its letters are not in the vocabulary


def test_allowed_special_must_be_none_all_or_known_tokens():
    tok = CharTokenizer.from_text("ab")
    with pytest.raises(TokenizerError, match="allowed_special"):
        tok.encode("ab", allowed_special="everything")
    with pytest.raises(TokenizerError, match="not a special token"):
        tok.encode("ab", allowed_special={"<|im_start|>"})


def test_decode_special_and_multibyte_tokens():
    tok = CharTokenizer.from_text("é!")
    assert tok.token_bytes(tok.encode("é")[0]) == "é".encode()
    assert tok.token_str(tok.eot_id) == ENDOFTEXT
    assert tok.decode([0, tok.eot_id, 1]) == f"!{ENDOFTEXT}é"
    assert tok.decode(np.array([1, 0])) == "é!"  # numpy ids work


@pytest.mark.parametrize("bad", [99, -1, 1.0, "0"])
def test_decode_rejects_ids_outside_the_vocabulary(bad):
    tok = CharTokenizer.from_text("ab")
    with pytest.raises(TokenizerError):
        tok.decode([0, bad])


def test_empty_corpus_is_refused():
    with pytest.raises(TokenizerError, match="empty"):
        CharTokenizer.from_text(ENDOFTEXT)


@pytest.mark.parametrize("chars", [["a", "a"], ["ab"]])
def test_malformed_vocabulary_is_refused(chars):
    with pytest.raises(TokenizerError):
        CharTokenizer(chars)


def test_duplicate_special_tokens_are_refused():
    with pytest.raises(TokenizerError, match="distinct"):
        CharTokenizer(["a"], [ENDOFTEXT, ENDOFTEXT])
