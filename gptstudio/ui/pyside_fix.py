"""A guard against a reference-counting bug of PySide6 6.12 on Python 3.11.

PySide6 6.12's wrappers of C++ functions that return nothing hand `None` back to Python without
taking a reference to it. From Python 3.12 on, `None` is immortal (PEP 683) and this is
harmless; on 3.11 every such call (`setText`, `processEvents`, ...) lowers None's reference count
by one, and after a few thousand calls Python aborts with "Fatal Python error: none_dealloc".
(Measured here: `QLabel().setText("x")` lowers `sys.getrefcount(None)` by exactly 1.)

The guard does what Python 3.12 does: it makes None's count so large that it can never reach
zero. It runs only on CPython < 3.12 and only when a probe call shows the bug, so it disappears
by itself with a fixed PySide6 or a newer Python. Left out: everything else.
"""

from __future__ import annotations

import ctypes
import platform
import sys

from PySide6.QtCore import QObject

# 2**40 void calls at 10,000 calls a second would take three years.
_HEADROOM = 1 << 40
_applied = False


def pyside_leaks_none() -> bool:
    """True if a void PySide6 call lowers None's reference count (the bug above)."""
    probe = QObject()
    before = sys.getrefcount(None)
    for _ in range(8):
        probe.setObjectName("probe")
    return sys.getrefcount(None) <= before - 8


def guard_none_refcount() -> bool:
    """Apply the guard if this interpreter needs it; True if it is (now) in place."""
    global _applied
    if _applied:
        return True
    if sys.version_info >= (3, 12) or platform.python_implementation() != "CPython":
        return False
    if not pyside_leaks_none():
        return False
    # ob_refcnt is the first field of every CPython object (a Py_ssize_t).
    refcount = ctypes.c_ssize_t.from_address(id(None))
    refcount.value += _HEADROOM
    _applied = True
    return True
