"""Platforms and packaging: pid and memory checks through psutil, the cache folder through
platformdirs, the project's metadata in its current form, and a documented torch index."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import platformdirs
import psutil
import pytest

import gptstudio
from gptstudio import paths
from gptstudio.cli import main
from gptstudio.core import atomic

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent
estimate_module = importlib.import_module("gptstudio.core.model.estimate")


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_a_pid_is_checked_without_sending_it_a_signal(monkeypatch):
    def no_signals(pid, sig):  # on Windows os.kill(pid, 0) would end the process
        raise AssertionError("os.kill must not be used to check a pid")

    monkeypatch.setattr(os, "kill", no_signals)
    asked = []
    monkeypatch.setattr(psutil, "pid_exists", lambda pid: asked.append(pid) or pid == 4242)
    assert atomic.pid_alive(4242) and not atomic.pid_alive(4243)
    assert asked == [4242, 4243]
    assert atomic.pid_alive(os.getpid())


def test_free_memory_comes_from_psutil_and_a_container_limit(monkeypatch):
    monkeypatch.setattr(psutil, "virtual_memory", lambda: SimpleNamespace(available=12_345_678))
    monkeypatch.setattr(estimate_module, "_read_cgroup_room", lambda: None)
    assert estimate_module.available_memory() == 12_345_678
    monkeypatch.setattr(estimate_module, "_read_cgroup_room", lambda: 1_000)
    assert estimate_module.available_memory() == 1_000  # the tighter of the two


def test_the_cache_folder_is_the_platforms_unless_overridden(monkeypatch, tmp_path):
    asked = []
    monkeypatch.setattr(platformdirs, "user_cache_dir",
                        lambda name, appauthor=None: asked.append(name) or str(tmp_path / "c"))
    monkeypatch.delenv("GPTSTUDIO_CACHE_DIR")
    assert paths.cache_dir() == tmp_path / "c" and asked == ["gptstudio"]
    monkeypatch.setenv("GPTSTUDIO_CACHE_DIR", str(tmp_path / "mine"))
    assert paths.cache_dir() == tmp_path / "mine"


def test_metadata_is_in_its_current_form(project):
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    assert "MIT License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "version" not in project and project["dynamic"] == ["version"]
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "setuptools"]
    assert setuptools["dynamic"]["version"] == {"attr": "gptstudio.__version__"}
    for platform in ("POSIX :: Linux", "MacOS", "Microsoft :: Windows"):
        assert f"Operating System :: {platform}" in project["classifiers"]
    assert project["gui-scripts"] == {"gptstudio-gui": "gptstudio.ui.app:run_app"}
    assert project["scripts"] == {"gptstudio": "gptstudio.cli:main"}
    names = {d.split(">")[0].split("=")[0].strip() for d in project["dependencies"]}
    assert {"psutil", "platformdirs"} <= names


def test_version_prints_the_one_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"gptstudio {gptstudio.__version__}"


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_torch_index_is_an_overridable_make_variable():
    def setup_commands(*variables: str) -> str:  # -n: print the recipe, run nothing
        result = subprocess.run(["make", "-n", "-W", "pyproject.toml", "setup", *variables],
                                cwd=ROOT, capture_output=True, text=True, check=True)
        return next(line for line in result.stdout.splitlines() if "import torch" in line)

    assert "--index-url" not in setup_commands()  # the default keeps working as it did
    cpu = "https://download.pytorch.org/whl/cpu"
    assert f"--index-url {cpu} " in setup_commands(f"TORCH_INDEX={cpu}")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"TORCH_INDEX={cpu}" in readme and "CUDA" in readme

