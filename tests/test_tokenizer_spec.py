"""Tokenizer choices as strings: parsing, labels, round trips, and the one resolver."""

from __future__ import annotations

import threading

import pytest

from gptstudio.core.errors import Cancelled, TokenizerError
from gptstudio.core.tokenizers import (
    MergeEvent,
    TokenizerSpec,
    parse_tokenizer_spec,
    resolve_tokenizer,
    tokenizer_spec_label,
)


@pytest.fixture(scope="module")
def verdict(shared_data) -> str:
    return (shared_data / "the-verdict.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize(("spec", "parsed", "canonical", "label"), [
    ("char", TokenizerSpec("char"), "char", "Characters"),
    ("bpe:512", TokenizerSpec("bpe", vocab_size=512, pattern="gpt2"), "bpe:512",
     "BPE 512 (gpt2 pattern)"),
    ("bpe:512:gpt2", TokenizerSpec("bpe", vocab_size=512, pattern="gpt2"), "bpe:512",
     "BPE 512 (gpt2 pattern)"),
    (" bpe:4096:gpt4 ", TokenizerSpec("bpe", vocab_size=4096, pattern="gpt4"), "bpe:4096:gpt4",
     "BPE 4096 (gpt4 pattern)"),
    ("gpt2", TokenizerSpec("tiktoken", name="gpt2"), "gpt2", "tiktoken gpt2"),
    ("tiktoken:o200k_base", TokenizerSpec("tiktoken", name="o200k_base"), "o200k_base",
     "tiktoken o200k_base"),
    ("runs/a/tokenizer.json", TokenizerSpec("file", path="runs/a/tokenizer.json"),
     "runs/a/tokenizer.json", "tokenizer.json"),
    ("bpe512.json", TokenizerSpec("file", path="bpe512.json"), "bpe512.json", "bpe512.json"),
    ("~/ranks/gpt2.tiktoken", TokenizerSpec("file", path="~/ranks/gpt2.tiktoken"),
     "~/ranks/gpt2.tiktoken", "gpt2.tiktoken"),
    ("file:char", TokenizerSpec("file", path="char"), "file:char", "char"),
])
def test_specs_parse_round_trip_and_label(spec, parsed, canonical, label):
    assert parse_tokenizer_spec(spec) == parsed
    assert parsed.to_spec() == canonical
    assert parse_tokenizer_spec(canonical) == parsed
    assert tokenizer_spec_label(spec) == parsed.label == label


def test_an_existing_file_without_suffix_or_folder_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mytok").write_text("{}", encoding="utf-8")
    assert parse_tokenizer_spec("mytok") == TokenizerSpec("file", path="mytok")


@pytest.mark.parametrize(("spec", "message"), [
    ("", "No tokenizer was chosen"),
    ("bpe", "'bpe:N'"),
    ("bpe:many", "'bpe:N'"),
    ("bpe:300:gpt2:x", "'bpe:N'"),
    ("bpe:100", "at least 257 ids"),
    ("bpe:300:o200k", "'gpt2' or 'gpt4'"),
    ("tiktoken:gpt5", "Unknown encoding 'gpt5'"),
    ("wordpiece", "Unknown tokenizer 'wordpiece'.*'char', 'bpe:N'.*cl100k_base"),
])
def test_invalid_specs_raise_one_plain_sentence(spec, message):
    with pytest.raises(TokenizerError, match=message):
        parse_tokenizer_spec(spec)
    assert tokenizer_spec_label(spec) == spec  # shown as written, never an exception


@pytest.mark.parametrize(("fields", "message"), [
    ({"kind": "bpe", "pattern": "gpt2"}, "needs vocab_size"),
    ({"kind": "char", "path": "x.json"}, "takes no path"),
    ({"kind": "bpe", "vocab_size": True, "pattern": "gpt2"}, "at least 257"),
    ({"kind": "file", "path": " "}, "needs a path"),
    ({"kind": "wordpiece"}, "Unknown tokenizer kind"),
])
def test_spec_fields_are_validated(fields, message):
    with pytest.raises(TokenizerError, match=message):
        TokenizerSpec(**fields)


def test_resolve_trains_a_bpe_with_progress_events(verdict):
    events: list[MergeEvent] = []
    tok = resolve_tokenizer("bpe:300:gpt4", verdict, progress=events.append)
    assert (tok.kind, tok.vocab_size, tok.pattern) == ("bpe", 300, "gpt4")
    assert [e.index for e in events] == list(range(300 - 257))
    assert tok.name == tokenizer_spec_label("bpe:300:gpt4")


def test_resolve_accepts_a_parsed_spec(verdict):
    assert resolve_tokenizer(TokenizerSpec("char"), verdict).kind == "char"


def test_cancel_stops_bpe_training_through_the_resolver(verdict):
    cancel = threading.Event()
    seen = []

    def on_merge(event: MergeEvent) -> None:
        seen.append(event.index)
        if event.index == 4:
            cancel.set()  # the user presses Stop after the fifth merge

    with pytest.raises(Cancelled, match="after 5 merges"):
        resolve_tokenizer("bpe:1000", verdict, progress=on_merge, cancel=cancel)
    assert seen == [0, 1, 2, 3, 4]


def test_resolve_loads_files(shared_data, tmp_path, verdict):
    assert resolve_tokenizer(str(shared_data / "gpt2.tiktoken")).vocab_size == 50257
    saved = tmp_path / "char.json"
    resolve_tokenizer("char", verdict).save(saved)
    assert resolve_tokenizer(f"file:{saved}").kind == "char"


@pytest.mark.parametrize(("spec", "corpus", "message"), [
    ("char", None, "built from a corpus; none was given"),
    ("bpe:300", None, "none was given"),
    ("missing/tok.json", None, "does not exist"),
])
def test_resolve_errors(spec, corpus, message):
    with pytest.raises(TokenizerError, match=message):
        resolve_tokenizer(spec, corpus)


def test_a_folder_is_not_a_tokenizer_file(tmp_path):
    with pytest.raises(TokenizerError, match="is a folder"):
        resolve_tokenizer(f"file:{tmp_path}")
