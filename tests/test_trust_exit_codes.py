"""Exit codes: 2 when the command line is wrong, 1 when what it works on fails, everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from gptstudio.cli import RUNTIME_ERROR, USAGE_ERROR, exit_code, main
from gptstudio.core.errors import (
    Cancelled,
    CheckpointError,
    ConfigError,
    CorpusError,
    DatasetError,
    DownloadError,
    TokenizerError,
    TrainingError,
)


def test_the_codes_are_the_conventional_ones():
    assert (USAGE_ERROR, RUNTIME_ERROR) == (2, 1)  # argparse exits 2 for usage errors too


@pytest.mark.parametrize("error, code", [
    (ConfigError("n_head must divide n_embd"), 2),
    (TokenizerError("Unknown tokenizer 'x'"), 2),
    (ValueError("not a number"), 2),
    (CheckpointError("damaged"), 1),
    (CorpusError("missing"), 1),
    (DownloadError("offline"), 1),
    (DatasetError("too small"), 1),
    (TrainingError("diverged"), 1),
    (Cancelled("stopped"), 1),
    (FileNotFoundError("gone"), 1),
    (PermissionError("read-only"), 1),
])
def test_each_error_kind_maps_to_its_code(error, code):
    assert exit_code(error) == code


def test_an_error_caused_by_a_failed_read_or_download_is_a_runtime_failure():
    try:
        try:
            raise DownloadError("GPTSTUDIO_OFFLINE=1")
        except DownloadError:
            raise TokenizerError("cl100k_base is not cached") from None
    except TokenizerError as exc:
        assert exit_code(exc) == 1
    try:
        try:
            raise OSError("I/O error")
        except OSError as io:
            raise TokenizerError("Cannot read the rank file") from io
    except TokenizerError as exc:
        assert exit_code(exc) == 1


def test_commands_exit_with_those_codes(tmp_path: Path, capsys):
    with pytest.raises(SystemExit) as usage:  # argparse: an unknown option
        main(["eval", "--no-such-option"])
    assert usage.value.code == 2
    assert main(["eval", "--run", str(tmp_path / "nothing")]) == 1  # no such run
    assert main(["tokenizer", "train", str(tmp_path / "missing.txt"), "--kind", "char",
                 "--out", str(tmp_path / "t.json")]) == 1
    assert main(["train", "--corpus", "builtin:copy", "--set", "n_head=3",
                 "--run-dir", str(tmp_path / "r"), "--quiet"]) == 2  # n_embd 128 / 3: usage
    err = capsys.readouterr().err
    assert err.count("gptstudio: error:") == 3 and "Traceback" not in err
