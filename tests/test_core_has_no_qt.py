"""The engine must stay usable without Qt: importing all of gptstudio.core imports no Qt."""

import subprocess
import sys


def test_importing_all_of_core_imports_no_qt():
    code = r"""
import importlib, pkgutil, sys
import gptstudio.core as core
names = [m.name for m in pkgutil.walk_packages(core.__path__, "gptstudio.core.")]
assert len(names) >= 5, names
for name in names:
    importlib.import_module(name)
bad = sorted(m for m in sys.modules if m.split('.')[0] in {"PySide6", "pyqtgraph", "shiboken6"})
print(len(names), bad)
assert not bad, bad
"""
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr + result.stdout
