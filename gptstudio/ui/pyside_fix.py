"""A guard against a reference-counting bug of PySide6 6.12 on Python 3.11.

PySide6 6.12 hands `None` and `True` back to Python without taking a reference to them, as if
they were immortal — which they are from Python 3.12 on (PEP 683), so there it is harmless. On
3.11 every C++ call that returns nothing (`setText`, `processEvents`, ...) lowers None's
reference count by one, and every signal delivered to a slot lowers True's; after a few thousand
of either, Python aborts with "Fatal Python error: none_dealloc" (or "bool_dealloc").
Measured here: `QLabel().setText("x")` lowers `sys.getrefcount(None)` by exactly 1 a call.

The guard does what Python 3.12 does: it makes the counts of None, True and False so large that
they can never reach zero. It runs only on CPython < 3.12 and only when a probe call shows the
bug, so it disappears by itself with a fixed PySide6 or a newer Python. Left out: all else.
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


def guard_singleton_refcounts() -> bool:
    """Apply the guard if this interpreter needs it; True if it is (now) in place."""
    global _applied
    if _applied:
        return True
    if sys.version_info >= (3, 12) or platform.python_implementation() != "CPython":
        return False
    if not pyside_leaks_none():
        return False
    for singleton in (None, True, False):
        # ob_refcnt is the first field of every CPython object (a Py_ssize_t).
        refcount = ctypes.c_ssize_t.from_address(id(singleton))
        refcount.value += _HEADROOM
    _applied = True
    return True
