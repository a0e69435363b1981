"""`gptstudio tokenizer encode --json` explains every token so its pieces rebuild the input
exactly; `tokenizer compare` prints each tokenizer's counts."""

from __future__ import annotations

import json
from pathlib import Path

import tiktoken
from tiktoken.load import load_tiktoken_bpe

from gptstudio.cli import main
from gptstudio.core.tokenizers import GPT2_PATTERN

TEXT = "Grüße, naïve café 🦊 中文 <|endoftext|> end\x00"


def gpt2_oracle(shared_data: Path) -> tiktoken.Encoding:
    return tiktoken.Encoding("gpt2", pat_str=GPT2_PATTERN,
                             mergeable_ranks=load_tiktoken_bpe(str(shared_data / "gpt2.tiktoken")),
                             special_tokens={"<|endoftext|>": 50256})


def test_encode_json_pieces_rebuild_the_text_with_bytes_offsets_and_ranks(shared_data, capsys):
    rank_file = str(shared_data / "gpt2.tiktoken")
    assert main(["tokenizer", "encode", "--tokenizer", rank_file, TEXT, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    oracle = gpt2_oracle(shared_data)
    assert out["ids"] == oracle.encode(TEXT, allowed_special="all")
    assert "".join(out["pieces"]) == TEXT
    data = TEXT.encode("utf-8")
    for token in out["tokens"]:
        assert bytes.fromhex(token["bytes"]) == oracle.decode_single_token_bytes(token["id"])
        assert data[token["byte_start"]:token["byte_end"]] == bytes.fromhex(token["bytes"])
        assert TEXT[token["start"]:token["end"]] == token["text"]
        if not token["special"]:
            assert token["rank"] == token["id"] and "\ufffd" not in token["readable"]
    assert {s["char"] for s in out["splits"]} >= {"🦊"}
    assert out["stats"]["chars"] == len(TEXT)


def test_encode_reads_a_file_and_can_treat_specials_as_text(shared_data, tmp_path, capsys):
    path = tmp_path / "t.txt"
    path.write_text("a <|endoftext|> b", encoding="utf-8")
    rank_file = str(shared_data / "gpt2.tiktoken")
    assert main(["tokenizer", "encode", "--tokenizer", rank_file, "--file", str(path),
                 "--ordinary"]) == 0
    ids = [int(i) for i in capsys.readouterr().out.split()]
    assert ids == gpt2_oracle(shared_data).encode_ordinary("a <|endoftext|> b")
    assert main(["tokenizer", "encode", "--tokenizer", rank_file]) == 2  # no text at all
    assert "--file" in capsys.readouterr().err


def test_compare_prints_each_tokenizers_counts_and_names_failures(shared_data, capsys):
    rank_file = str(shared_data / "gpt2.tiktoken")
    text = "The fox looked into the well."
    assert main(["tokenizer", "compare", "--tokenizer", "char", "--tokenizer", "bpe:300",
                 "--tokenizer", rank_file, "--corpus", "builtin:fables", text, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert [r["vocab_size"] for r in rows][2] == 50257
    assert rows[0]["tokens"] == len(text)  # characters: one token each
    assert rows[2]["tokens"] == len(gpt2_oracle(shared_data).encode(text))
    assert rows[0]["tokens"] > rows[1]["tokens"] > rows[2]["tokens"]  # bigger vocab, fewer
    assert main(["tokenizer", "compare", "--tokenizer", "char", "--corpus", "builtin:fables",
                 "Ünïcödé"]) == 1
    assert "error:" in capsys.readouterr().out
    assert main(["tokenizer", "compare", "--tokenizer", "char", "x"]) == 2
    assert "--corpus" in capsys.readouterr().err
