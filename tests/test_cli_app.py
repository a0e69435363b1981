"""`gptstudio`, `gptstudio app [PATH]` and `gptstudio PATH` open the app; a stray word does not.

The app itself is replaced by a recorder: these tests check what the command line asks of
`gptstudio.ui.run_app` (its argv: the program name, then the path to open, if any).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import gptstudio.ui
from gptstudio.cli import main


@pytest.fixture
def opened(monkeypatch) -> list[list[str]]:
    """The argv of each run_app call (the fake app exits with 0)."""
    calls: list[list[str]] = []

    def fake_run_app(argv=None) -> int:
        calls.append(list(argv))
        return 0

    monkeypatch.setattr(gptstudio.ui, "run_app", fake_run_app)
    return calls


@pytest.fixture
def corpus_file(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text("some text\n", encoding="utf-8")
    return path


def test_no_command_opens_the_app_on_nothing(opened):
    assert main([]) == 0
    assert opened == [["gptstudio"]]


def test_the_app_command_is_not_read_as_a_path(opened, monkeypatch):
    assert main(["app"]) == 0
    # The reported defect: the command line as the shell gives it, sys.argv included.
    monkeypatch.setattr(sys, "argv", ["/usr/bin/gptstudio", "app"])
    assert main() == 0
    assert opened == [["gptstudio"], ["gptstudio"]]


def test_app_with_a_path_opens_it(opened, corpus_file: Path, tmp_path: Path):
    assert main(["app", str(corpus_file)]) == 0
    assert main(["app", str(tmp_path)]) == 0  # a folder of texts, or a run folder
    assert opened == [["gptstudio", str(corpus_file)], ["gptstudio", str(tmp_path)]]


def test_a_bare_existing_path_opens_the_app_on_it(opened, corpus_file: Path, tmp_path: Path):
    assert main([str(corpus_file)]) == 0
    assert main([str(tmp_path)]) == 0
    assert opened == [["gptstudio", str(corpus_file)], ["gptstudio", str(tmp_path)]]


def test_the_apps_exit_code_is_the_commands(monkeypatch):
    monkeypatch.setattr(gptstudio.ui, "run_app", lambda argv=None: 3)
    assert main(["app"]) == 3


def test_a_word_that_is_neither_a_command_nor_a_path_is_an_error(opened, capsys, tmp_path,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["nonexistent-thing"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "'nonexistent-thing' is neither a command" in err and "train" in err
    with pytest.raises(SystemExit) as exit_info:
        main(["app", "nonexistent-thing"])
    assert exit_info.value.code == 2
    assert "no such file or folder: 'nonexistent-thing'" in capsys.readouterr().err
    assert opened == []


def test_a_command_name_wins_over_a_file_of_that_name(opened, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "eval").write_text("not a corpus", encoding="utf-8")
    with pytest.raises(SystemExit) as exit_info:
        main(["eval"])  # the eval command, which wants --run
    assert exit_info.value.code == 2
    assert "--run" in capsys.readouterr().err
    assert main(["./eval"]) == 0  # spelled as a path, it is one
    assert opened == [["gptstudio", "./eval"]]


def test_the_command_line_loads_neither_torch_nor_qt_until_a_command_needs_them():
    import subprocess

    code = ("import sys; import gptstudio.cli as cli; cli.build_parser(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'PySide6'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
