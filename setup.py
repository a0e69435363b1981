"""Which packages the wheel holds: the one packaging rule pyproject.toml cannot say by itself.

Every package under gptstudio/ is *discovered* (`find_packages`), so a new subpackage can never be
left out of the wheel — as long as its folder has an `__init__.py`, which tests/test_packaging.py
checks. The top-level resources/ folder ships as the package `gptstudio.resources`:
pyproject.toml maps it (`package-dir`) and takes every file below it as data (`package-data`).
Discovery in pyproject.toml (`[tool.setuptools.packages.find]`) only finds packages by their
folders, so it cannot add one that lives outside gptstudio/; hence this file, and nothing else in
it. Metadata, dependencies and data files are all in pyproject.toml; `scripts/check_wheel.py`
builds the wheel and checks what it holds.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).resolve().parent
RESOURCES_PACKAGE = "gptstudio.resources"  # built from resources/ (see pyproject.toml)


def wheel_packages(root: Path = HERE) -> list[str]:
    """The packages of the wheel: all of gptstudio/ (discovered), then gptstudio.resources."""
    found = find_packages(where=str(root), include=["gptstudio", "gptstudio.*"])
    return sorted({*found, RESOURCES_PACKAGE})


if __name__ == "__main__":  # how setuptools runs this file
    setup(packages=wheel_packages())
