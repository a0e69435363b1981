"""Packaging rules that keep the wheel complete (scripts/check_wheel.py builds and checks it).

Packages are discovered, never listed by hand, and discovery only finds a folder with an
`__init__.py`: so every folder of gptstudio/ holding Python files must have one. The doctests of
the engine run with the suite, and CI checks the wheel before it runs the README's test command.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from setuptools import find_packages

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _setup_module():
    spec = importlib.util.spec_from_file_location("gptstudio_setup_py", ROOT / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # not as __main__: setup() is not called
    return module


def test_packages_are_discovered_not_listed(pyproject):
    setuptools_config = pyproject["tool"]["setuptools"]
    assert "packages" not in setuptools_config, "list no packages by hand: setup.py finds them"
    discovered = find_packages(where=str(ROOT), include=["gptstudio", "gptstudio.*"])
    assert _setup_module().wheel_packages() == sorted({*discovered, "gptstudio.resources"})
    assert {"gptstudio", "gptstudio.core", "gptstudio.core.tokenizers"} <= set(discovered)


def test_every_python_folder_is_a_package():
    missing = sorted(
        str(folder.relative_to(ROOT))
        for folder in [ROOT / "gptstudio", *(ROOT / "gptstudio").rglob("*")]
        if folder.is_dir() and folder.name != "__pycache__" and any(folder.glob("*.py"))
        and not (folder / "__init__.py").is_file()
    )
    assert not missing, f"add an __init__.py (or the wheel leaves them out): {missing}"


def test_resources_ship_as_package_data(pyproject):
    config = pyproject["tool"]["setuptools"]
    assert config["package-dir"] == {"gptstudio.resources": "resources"}
    assert config["package-data"]["gptstudio.resources"] == ["**/*"]
    # Data comes from that glob, not a manifest: then setuptools sees no data folder (icons/,
    # corpora/) as an unlisted package ("Package would be ignored").
    assert config["include-package-data"] is False
    assert (ROOT / "resources" / "__init__.py").is_file()


def test_the_suite_runs_the_engine_doctests_but_not_the_apps(pyproject):
    options = pyproject["tool"]["pytest"]["ini_options"]
    assert "--doctest-modules" in options["addopts"].split()
    assert "tests" in options["testpaths"] and "gptstudio/core" in options["testpaths"]
    assert not any(p.startswith("gptstudio/ui") or p in ("gptstudio", "gptstudio/")
                   for p in options["testpaths"])


def test_ci_checks_the_wheel_and_ends_with_the_readme_test_command():
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert lines[-1] == "make test"
    assert any("check_wheel" in line or "check-wheel" in line for line in lines)
    assert "make test" in (ROOT / "README.md").read_text(encoding="utf-8")
