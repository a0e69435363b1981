"""Saving and loading tokenizers: round trips, a readable format, and clear errors."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from gptstudio.core.errors import TokenizerError
from gptstudio.core.tokenizers import (
    ENDOFTEXT,
    BPETokenizer,
    CharTokenizer,
    TiktokenTokenizer,
    Tokenizer,
    load_tokenizer,
    resolve_tokenizer,
    tiktoken_named,
    tokenizer_from_dict,
)

SAMPLE = f"Hello world! naïve café — 1234 tokens 👍{ENDOFTEXT}second document"


@pytest.fixture(scope="module")
def verdict(shared_data) -> str:
    return (shared_data / "the-verdict.txt").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def gpt2_file(shared_data):
    return TiktokenTokenizer.from_file(shared_data / "gpt2.tiktoken")


@pytest.fixture(scope="module")
def tokenizers(verdict, gpt2_file) -> dict[str, Tokenizer]:
    # A BPE whose single bytes are not ids 0..255: GPT-2's first 2,256 ranks.
    gpt2_prefix = {t: r for t, r in gpt2_file.ranks.items() if r < 2256}
    return {
        "char": CharTokenizer.from_text(verdict + SAMPLE),
        "bpe": BPETokenizer.train(verdict, 400, pattern="gpt4"),
        "bpe-gpt2-ranks": BPETokenizer.from_ranks(gpt2_prefix),
        "tiktoken-file": gpt2_file,
    }


@pytest.mark.parametrize("kind", ["char", "bpe", "bpe-gpt2-ranks", "tiktoken-file"])
def test_save_load_round_trip(tokenizers, tmp_path, verdict, kind):
    tok = tokenizers[kind]
    path = tmp_path / "tok.json"
    tok.save(path)
    loaded = load_tokenizer(path)
    assert type(loaded) is type(tok)
    assert loaded.to_dict() == tok.to_dict() and loaded.fingerprint() == tok.fingerprint()
    assert loaded.vocab_size == tok.vocab_size and loaded.special_tokens == tok.special_tokens
    for text in (verdict, SAMPLE):
        assert loaded.encode(text, allowed_special="all") == tok.encode(text, "all")
    assert [p.name for p in tmp_path.iterdir()] == ["tok.json"]  # no temp file left behind


def test_saved_bpe_is_readable_json(tokenizers, tmp_path):
    path = tmp_path / "bpe.json"
    tokenizers["bpe"].save(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[1:4] == ['  "format": "gptstudio-tokenizer",', '  "version": 1,',
                          '  "kind": "bpe",']
    first_merge = lines[lines.index('  "merges": [') + 1]
    left, right, piece = json.loads(first_merge.rstrip(","))
    tok = tokenizers["bpe"]
    assert piece == tok.token_str(256) and (left, right) == tok.merges[0]
    assert len(lines) > len(tok.merges)  # one merge a line


def test_fingerprints_tell_tokenizers_apart(tokenizers, verdict):
    prints = {tok.fingerprint() for tok in tokenizers.values()}
    assert len(prints) == len(tokenizers)
    again = BPETokenizer.train(verdict, 400, pattern="gpt4")
    assert again.fingerprint() == tokenizers["bpe"].fingerprint()  # training is deterministic
    assert BPETokenizer.train(verdict, 401, pattern="gpt4").fingerprint() != again.fingerprint()


def test_save_replaces_an_existing_file(tokenizers, tmp_path):
    path = tmp_path / "tok.json"
    tokenizers["bpe"].save(path)
    tokenizers["char"].save(path)
    assert load_tokenizer(path).kind == "char"


def test_save_to_an_impossible_place_is_a_clear_error(tokenizers, tmp_path):
    with pytest.raises(TokenizerError, match="Cannot save"):
        tokenizers["char"].save(tmp_path)  # a folder, not a file


def test_a_tiktoken_file_loads_directly(shared_data, tmp_path):
    assert load_tokenizer(shared_data / "gpt2.tiktoken").encode("Hello world") == [15496, 995]
    renamed = tmp_path / "ranks.txt"  # recognised by its content too
    shutil.copy(shared_data / "gpt2.tiktoken", renamed)
    assert load_tokenizer(renamed).vocab_size == 50257


def _saved(tok: Tokenizer) -> dict:
    return json.loads(json.dumps(tok.to_dict()))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format="something-else"), "not a GPT Studio tokenizer"),
        (lambda d: d.update(version=2), "newer GPT Studio"),
        (lambda d: d.update(version="1"), "format version"),
        (lambda d: d.update(kind="wordpiece"), "unknown tokenizer kind"),
        (lambda d: d.pop("merges"), "missing"),
        (lambda d: d["merges"].__setitem__(0, [1, 2]), "missing or has the wrong type"),
        (lambda d: d["merges"].__setitem__(0, [1, 2, "?"]), "'merges' does not agree"),
        (lambda d: d["merges"].__setitem__(0, [1, 999, "?"]), "only ids below"),
        (lambda d: d["merges"].__setitem__(0, [1.0, 2, "?"]), "integers"),
        (lambda d: d.update(pattern="gpt5"), "Unknown split pattern"),
        (lambda d: d.update(pattern_regex="."), "'pattern_regex' does not agree"),
        (lambda d: d.update(byte_ids=[0] * 256), "0..255"),
        (lambda d: d.update(special_tokens={ENDOFTEXT: 3}), "after the ordinary tokens"),
        (lambda d: d.update(special_tokens=[ENDOFTEXT]), "wrong type"),
    ],
)
def test_edited_or_foreign_bpe_files_are_refused(tokenizers, edit, message):
    saved = _saved(tokenizers["bpe"])
    edit(saved)
    with pytest.raises(TokenizerError, match=message):
        tokenizer_from_dict(saved)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(chars="abc"), "'chars' does not agree"),
        (lambda d: d.update(chars=["ab"]), "one character"),
        (lambda d: d.update(special_tokens={ENDOFTEXT: 0}), "'special_tokens' does not agree"),
        (lambda d: d.pop("name"), "missing"),
    ],
)
def test_edited_char_files_are_refused(tokenizers, edit, message):
    saved = _saved(tokenizers["char"])
    edit(saved)
    with pytest.raises(TokenizerError, match=message):
        tokenizer_from_dict(saved)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"format": "gptstudio-tokenizer", "version": 1, "kind": "ch', "truncated"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not even text"),
        (b'{"weights": [1, 2, 3]}', "not a GPT Studio tokenizer"),
        (b"[1, 2, 3]", "not a GPT Studio tokenizer"),
        (b"", "truncated"),
    ],
)
def test_corrupt_or_foreign_files_are_refused(tmp_path, content, message):
    path = tmp_path / "tok.json"
    path.write_bytes(content)
    with pytest.raises(TokenizerError, match=message):
        load_tokenizer(path)


def test_a_truncated_save_is_refused(tokenizers, tmp_path):
    path = tmp_path / "tok.json"
    tokenizers["bpe"].save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TokenizerError, match="truncated"):
        load_tokenizer(path)


def test_missing_file(tmp_path):
    with pytest.raises(TokenizerError, match="is missing"):
        load_tokenizer(tmp_path / "nope.json")


def test_a_changed_rank_file_is_detected(shared_data, tmp_path):
    ranks_path = tmp_path / "gpt2.tiktoken"
    shutil.copy(shared_data / "gpt2.tiktoken", ranks_path)
    TiktokenTokenizer.from_file(ranks_path).save(tmp_path / "tok.json")
    lines = ranks_path.read_bytes().splitlines(keepends=True)
    ranks_path.write_bytes(b"".join(lines[:-1]))  # drop the last rank
    with pytest.raises(TokenizerError, match="has changed"):
        load_tokenizer(tmp_path / "tok.json")


def test_a_named_encoding_round_trips_through_the_cache(shared_data, tmp_path, monkeypatch):
    url = tiktoken_named.NAMED_ENCODINGS["gpt2"].url
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", "1")
    shutil.copy(shared_data / "gpt2.tiktoken", tmp_path / hashlib.sha1(url.encode()).hexdigest())
    tok = resolve_tokenizer("gpt2")
    tok.save(tmp_path / "gpt2.json")
    saved = json.loads((tmp_path / "gpt2.json").read_text(encoding="utf-8"))
    assert saved["source"] == {"named": "gpt2"}
    assert load_tokenizer(tmp_path / "gpt2.json").encode("Hello world") == [15496, 995]


def test_resolve_tokenizer_choices(verdict, shared_data, tmp_path, monkeypatch):
    assert resolve_tokenizer("char", verdict).kind == "char"
    bpe = resolve_tokenizer("bpe:300:gpt4", verdict)
    assert (bpe.kind, bpe.vocab_size, bpe.pattern) == ("bpe", 300, "gpt4")
    assert resolve_tokenizer(str(shared_data / "gpt2.tiktoken")).vocab_size == 50257
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("GPTSTUDIO_OFFLINE", "1")
    with pytest.raises(TokenizerError, match="TIKTOKEN_CACHE_DIR"):
        resolve_tokenizer("cl100k_base")


@pytest.mark.parametrize(
    ("spec", "corpus", "message"),
    [
        ("char", None, "none was given"),
        ("bpe:300", None, "none was given"),
        ("bpe:many", "text", "'bpe:N'"),
        ("bpe:300:gpt2:x", "text", "'bpe:N'"),
        ("wordpiece", "text", "Unknown tokenizer"),
    ],
)
def test_resolve_tokenizer_errors(spec, corpus, message):
    with pytest.raises(TokenizerError, match=message):
        resolve_tokenizer(spec, corpus)
