"""A run folder or tokenizer from someone else is untrusted input: special files are not read,
sizes are bounded, and messages never repeat a file's contents."""

from __future__ import annotations

import json
import os
import sys

import pytest

from gptstudio.core.errors import CheckpointError, TokenizerError
from gptstudio.core.model import from_preset
from gptstudio.core.readers import MB, read_json_file, read_regular_file
from gptstudio.core.tokenizers import CharTokenizer, TiktokenTokenizer, load_tokenizer
from gptstudio.core.train import Run, TrainConfig

SECRET = "root:$6$SECRETHASH:19000:0:99999:7:::"
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="/dev/zero and FIFOs are POSIX")


@pytest.fixture
def run(tmp_path):
    tok = CharTokenizer.from_text("hello world\n")
    config = from_preset("nano", vocab_size=tok.vocab_size, block_size=8)
    return Run.create(tmp_path / "run", config, TrainConfig(), {}, tok)


@posix_only
def test_a_tokenizer_linked_to_dev_zero_is_refused_not_read_forever(run):
    run.tokenizer_path.unlink()
    os.symlink("/dev/zero", run.tokenizer_path)
    with pytest.raises(TokenizerError, match="not a regular file"):
        Run.open(run.path).load_tokenizer()


@posix_only
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    with pytest.raises(TokenizerError, match="not a regular file"):
        load_tokenizer(fifo)


@pytest.mark.parametrize("suffix", [".json", ".tiktoken"])
def test_a_private_file_offered_as_a_tokenizer_is_not_quoted(tmp_path, suffix):
    private = tmp_path / f"shadow{suffix}"
    private.write_text(SECRET + "\nbin:*:19000:0:99999:7:::\n", encoding="utf-8")
    for load in (load_tokenizer, TiktokenTokenizer.from_file):
        with pytest.raises(TokenizerError) as raised:
            load(private)
        assert "SECRETHASH" not in str(raised.value) and "root:" not in str(raised.value)


def test_a_run_config_that_is_not_json_is_not_quoted(run):
    (run.path / "model_config.json").write_text(SECRET, encoding="utf-8")
    with pytest.raises(CheckpointError, match="not valid JSON") as raised:
        Run.open(run.path)
    assert "SECRETHASH" not in str(raised.value)


def test_sizes_are_bounded_before_reading(tmp_path):
    big = tmp_path / "big.json"
    with open(big, "wb") as f:
        f.truncate(3 * MB)  # sparse: large on paper, cheap on disk
    with pytest.raises(TokenizerError, match="more than such a file can be"):
        read_regular_file(big, max_bytes=2 * MB, what="the tokenizer file", error=TokenizerError)
    small = tmp_path / "small.json"
    small.write_text(json.dumps({"a": 1}), encoding="utf-8")
    assert read_json_file(small, max_bytes=MB, what="a file") == {"a": 1}


def test_a_read_only_run_folder_opens_and_samples_its_tokenizer(run, monkeypatch):
    import pathlib

    leftover = run.path / ".train_config.json.tmp-99999999-abcd1234"  # a dead writer's file
    leftover.write_text("{}", encoding="utf-8")

    def refuse(self, missing_ok=False):  # what unlink does in a read-only folder
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(pathlib.Path, "unlink", refuse)
    reopened = Run.open(run.path)  # the leftover stays; opening to read still works
    assert reopened.load_tokenizer().vocab_size == run.load_tokenizer().vocab_size
    assert leftover.exists()
