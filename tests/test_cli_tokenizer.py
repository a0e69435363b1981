"""`gptstudio tokenizer train|encode`: results on stdout, one-line errors, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gptstudio.cli import main
from gptstudio.core.tokenizers import load_tokenizer


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """The real command in a child process, as a user would run it."""
    return subprocess.run([sys.executable, "-m", "gptstudio", *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def test_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("app", "tokenizer", "train", "sample", "eval", "export", "import-gpt2"):
        assert command in result.stdout
    for sub in (("tokenizer", "train"), ("tokenizer", "encode")):
        assert run_cli(*sub, "--help").returncode == 0


def test_train_bpe_then_encode_round_trips(tmp_path: Path, capsys):
    out = tmp_path / "bpe.json"
    assert main(["tokenizer", "train", "builtin:fables", "--kind", "bpe", "--vocab-size", "300",
                 "--out", str(out), "--quiet"]) == 0
    tokenizer = load_tokenizer(out)
    assert tokenizer.vocab_size == 300
    capsys.readouterr()
    assert main(["tokenizer", "encode", "--tokenizer", str(out), "Once upon a time", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["ids"] == tokenizer.encode("Once upon a time")
    assert "".join(printed["pieces"]) == "Once upon a time"


def test_char_tokenizer_from_a_file(tmp_path: Path, capsys):
    corpus = tmp_path / "c.txt"
    corpus.write_text("abcabc\n", encoding="utf-8")
    out = tmp_path / "char.json"
    assert main(["tokenizer", "train", str(corpus), "--kind", "char", "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["tokenizer", "encode", "--tokenizer", str(out), "cab"]) == 0
    ids = [int(x) for x in capsys.readouterr().out.split()]
    assert load_tokenizer(out).decode(ids) == "cab"


def test_encode_with_a_tiktoken_rank_file_gives_gpt2_ids(shared_data: Path, capsys):
    rank_file = shared_data / "gpt2.tiktoken"
    assert main(["tokenizer", "encode", "--tokenizer", str(rank_file), "Hello world",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ids"] == [15496, 995]


@pytest.mark.parametrize("args, needle", [
    (["tokenizer", "train", "/no/such/file.txt", "--kind", "char", "--out", "x.json"],
     "/no/such/file.txt"),
    (["tokenizer", "encode", "--tokenizer", "nonsense", "hi"], "nonsense"),
])
def test_bad_input_is_one_line_without_traceback(args, needle, tmp_path: Path):
    result = subprocess.run([sys.executable, "-m", "gptstudio", *args], capture_output=True,
                            text=True, cwd=tmp_path, timeout=120)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and needle in lines[0], result.stderr


def test_binary_corpus_is_refused_with_the_file_named(tmp_path: Path):
    binary = tmp_path / "data.bin"
    binary.write_bytes(b"text\x00\x01\x02")
    result = run_cli("tokenizer", "train", str(binary), "--kind", "char",
                     "--out", str(tmp_path / "t.json"))
    assert result.returncode == 1  # a runtime failure
    assert "data.bin" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "t.json").exists()


def test_named_encoding_offline_error_names_the_cache_variable(tmp_path: Path):
    # An empty cache and no network: the error must say how to fix it, quickly.
    result = run_cli("tokenizer", "encode", "--tokenizer", "cl100k_base", "hi",
                     env={"TIKTOKEN_CACHE_DIR": str(tmp_path), "GPTSTUDIO_OFFLINE": "1"})
    assert result.returncode == 1  # a runtime failure: the encoding could not be had
    assert "TIKTOKEN_CACHE_DIR" in result.stderr and "Traceback" not in result.stderr
