"""Build the wheel, install it apart from the checkout, and check that it is complete and works.

    .venv/bin/python scripts/check_wheel.py [--keep]

What a user's `pip install` gets must be what the source tree holds. This script

1. copies the working tree (without .git, .venv, build outputs and caches) to a temporary folder
   and builds the wheel there with the project's own setuptools (`pip wheel --no-deps
   --no-build-isolation`), so a stale build/ folder of the checkout can never leak into it, and
   fails on setuptools' "Package would be ignored" warning;
2. checks the wheel holds every package `find_packages` sees under gptstudio/, every .py file and
   every other file there, and every file of resources/ as gptstudio/resources/...; its scripts
   (`gptstudio`, `gptstudio-gui`) and metadata (SPDX licence + LICENSE, the one version);
3. installs it with `pip install --no-deps --target` into a throwaway folder and, from a folder
   outside the checkout with only that folder first on sys.path (the virtual environment's
   site-packages after it, for the dependencies, with no .pth file run, so the editable install
   cannot answer), imports gptstudio, checks it comes from there, imports every package but the
   Qt app's, and loads the bundled default corpus (`load_builtin("fables")`).

It prints what it checked and exits non-zero with the list of problems. .ci/run calls it; it needs
no network. `--keep` leaves the temporary folder for a look.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

from setuptools import find_packages

ROOT = Path(__file__).resolve().parent.parent
# Never part of the wheel's sources: version control, environments, build outputs, caches.
SKIP_NAMES = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis",
              "runs", "screenshots-tmp", "shared"}
IGNORED_WARNING = "Package would be ignored"  # setuptools: a data folder mistaken for a package

# Runs in the child interpreter (python -S: no site module, so no .pth file of the editable
# install). argv: the install folder, then the folders that hold the dependencies.
SMOKE_TEST = r"""
import importlib, json, sys
site, deps, packages = sys.argv[1], sys.argv[2:-1], json.loads(sys.argv[-1])
sys.path[:0] = [site]
sys.path.extend(deps)
import gptstudio
assert gptstudio.__file__.startswith(site), f"gptstudio came from {gptstudio.__file__}"
for name in packages:
    if not name.startswith("gptstudio.ui"):  # the Qt app: its tests cover it
        module = importlib.import_module(name)
        assert module.__file__.startswith(site), f"{name} came from {module.__file__}"
from gptstudio.core.corpora import DEFAULT_CORPUS, load_builtin
from gptstudio.paths import resources_dir
corpus = load_builtin(DEFAULT_CORPUS)
assert corpus.n_chars > 10_000 and str(corpus.paths[0]).startswith(site), corpus.paths[:1]
assert str(resources_dir()).startswith(site), resources_dir()
from gptstudio.core.finetune.builtin import BUILTIN_DATA  # what `builtin:NAME` data names
assert all((resources_dir() / d.file).is_file() for d in BUILTIN_DATA.values()), BUILTIN_DATA
print(f"{corpus.name}: {len(corpus.paths)} files, {corpus.n_chars:,} characters")
"""


def source_files(folder: Path) -> list[Path]:
    """Files below `folder` that belong to the sources (no caches, no compiled files)."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".pyc"
                  and "__pycache__" not in p.parts)


def copy_tree(dest: Path) -> None:
    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if n in SKIP_NAMES or n.endswith(".egg-info")}

    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)


def build_wheel(src: Path, out: Path, problems: list[str]) -> Path:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-cache-dir", "--quiet", "--verbose", str(src), "-w", str(out)],
        capture_output=True, text=True)
    log = result.stdout + result.stderr
    if result.returncode != 0:
        sys.exit(f"Building the wheel failed:\n{log[-4000:]}")
    if IGNORED_WARNING in log:
        problems.append("setuptools warned 'Package would be ignored' (a data folder looks like "
                        "an unlisted package): see pyproject.toml's package-data")
    wheels = sorted(out.glob("gptstudio-*.whl"))
    if len(wheels) != 1:
        sys.exit(f"Expected one wheel in {out}, found {wheels}")
    return wheels[0]


def check_contents(wheel: Path, problems: list[str]) -> list[str]:
    """Compare the wheel with the source tree; returns the packages found in the sources."""
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = sorted(find_packages(where=str(ROOT), include=["gptstudio", "gptstudio.*"]))
    for package in packages:
        if package.replace(".", "/") + "/__init__.py" not in names:
            problems.append(f"package {package} is not in the wheel")
    for path in source_files(ROOT / "gptstudio"):
        name = path.relative_to(ROOT).as_posix()
        if name not in names:
            hint = "" if path.suffix == ".py" else " (data belongs in resources/, STYLE.md 15)"
            problems.append(f"{name} is not in the wheel{hint}")
    for path in source_files(ROOT / "resources"):
        name = "gptstudio/resources/" + path.relative_to(ROOT / "resources").as_posix()
        if name not in names:
            problems.append(f"{name} (from resources/) is not in the wheel")
    tops = {n.split("/", 1)[0] for n in names}
    strays = sorted(t for t in tops if t != "gptstudio" and not t.endswith(".dist-info"))
    if strays:
        problems.append(f"the wheel installs other top-level names: {strays}")
    entry_points = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    scripts = zipfile.ZipFile(wheel).read(entry_points[0]).decode() if entry_points else ""
    if "gptstudio = " not in scripts:
        problems.append("the wheel has no `gptstudio` console script")
    if "[gui_scripts]" not in scripts or "gptstudio-gui = " not in scripts:
        problems.append("the wheel has no `gptstudio-gui` GUI script")
    check_metadata(wheel, names, problems)
    print(f"wheel {wheel.name}: {len(names)} files, {len(packages)} packages from gptstudio/, "
          f"{len(source_files(ROOT / 'resources'))} files from resources/")
    return packages


def check_metadata(wheel: Path, names: set[str], problems: list[str]) -> None:
    """The licence as an SPDX expression with its file, the one version, the dependencies."""
    metadata = [n for n in names if n.endswith(".dist-info/METADATA")]
    if not metadata:
        problems.append("the wheel has no METADATA")
        return
    text = zipfile.ZipFile(wheel).read(metadata[0]).decode()
    fields = [line.partition(": ") for line in text.split("\n\n", 1)[0].splitlines()]
    found = {}
    for key, _, value in fields:
        found.setdefault(key, []).append(value)
    version = re.search(r'__version__ = "([^"]+)"',
                        (ROOT / "gptstudio" / "__init__.py").read_text(encoding="utf-8"))
    expected = {"License-Expression": ["MIT"], "License-File": ["LICENSE"],
                "Version": [version.group(1) if version else "?"]}
    for key, values in expected.items():
        if found.get(key) != values:
            problems.append(f"METADATA {key} is {found.get(key)}, expected {values}")
    if not any(n.endswith(".dist-info/licenses/LICENSE") for n in names):
        problems.append("the wheel does not hold the LICENSE file")
    requires = " ".join(found.get("Requires-Dist", []))
    for package in ("psutil", "platformdirs"):
        if package not in requires:
            problems.append(f"METADATA does not require {package}")


def smoke_test(wheel: Path, work: Path, packages: list[str], problems: list[str]) -> None:
    site = work / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
                    "--quiet", "--target", str(site), str(wheel)], check=True)
    elsewhere = work / "elsewhere"  # the current folder of the check: not the checkout
    elsewhere.mkdir()
    deps = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    result = subprocess.run(
        [sys.executable, "-S", "-c", SMOKE_TEST, str(site), *deps, json.dumps(packages)],
        cwd=elsewhere, capture_output=True, text=True)
    if result.returncode != 0:
        problems.append("the installed wheel does not work:\n" + result.stderr[-3000:])
    else:
        print(f"installed in {site}: imports from there; {result.stdout.strip()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gptstudio-wheel-"))
    problems: list[str] = []
    try:
        copy_tree(work / "src")
        wheel = build_wheel(work / "src", work / "dist", problems)
        packages = check_contents(wheel, problems)
        smoke_test(wheel, work, packages, problems)
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    print("wheel check: " + ("FAILED" if problems else "ok"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
