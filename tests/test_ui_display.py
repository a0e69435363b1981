"""Without a display the app says why in one line and exits 1, instead of Qt's abort (134)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gptstudio.ui.qt_setup import display_problem


def _found(_name: str) -> str:
    return "libxcb-cursor.so.0"


def _missing(_name: str) -> None:
    return None


@pytest.mark.parametrize("env, find, expected", [
    ({}, _found, "no display was found"),
    ({"DISPLAY": ":0"}, _missing, "libxcb-cursor0"),
    ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, _missing, "libxcb-cursor0"),
    ({"DISPLAY": ":0"}, _found, None),
    ({"WAYLAND_DISPLAY": "wayland-0"}, _missing, None),  # Wayland needs no xcb library
    ({"QT_QPA_PLATFORM": "offscreen"}, _missing, None),
])
def test_the_reason_names_the_fix(env, find, expected):
    problem = display_problem(env, "linux", find)
    assert problem is None if expected is None else expected in problem
    if problem is not None:
        assert "QT_QPA_PLATFORM=offscreen" in problem


def test_other_systems_are_left_to_qt():
    assert display_problem({}, "darwin", _missing) is None
    assert display_problem({}, "win32", _missing) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the check is Linux's")
def test_the_command_without_a_display_prints_one_line_and_exits_1(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["GPTSTUDIO_RUNS_DIR"] = str(tmp_path)
    out = subprocess.run([sys.executable, "-m", "gptstudio"], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "no display was found" in lines[0]
