"""Typed access to the app's persistent settings (QSettings).

QSettings returns strings after a restart (a one-item list comes back as `str`, a float as
`'3e-04'`), so every read here passes `type=` (PITFALLS). The file lives in the user's config
folder as an INI file; tests redirect it with `QSettings.setPath(IniFormat, UserScope, tmp)`.
This module leaves out what the settings mean to the widgets; it only stores and returns them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from gptstudio.ui.qt_setup import APPLICATION, ORGANIZATION

MAX_RECENT = 10


class AppSettings:
    """Window geometry, recent runs/corpora and the last set-up, stored between sessions."""

    def __init__(self) -> None:
        # Explicit format and names: works even in a QApplication that was not set up by app.py.
        self._qs = QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                             ORGANIZATION, APPLICATION)

    # -- window --------------------------------------------------------------------------------
    def geometry(self) -> QByteArray | None:
        value = self._qs.value("window/geometry", QByteArray(), type=QByteArray)
        return value if not value.isEmpty() else None

    def set_geometry(self, data: QByteArray) -> None:
        self._qs.setValue("window/geometry", data)

    def window_state(self) -> QByteArray | None:
        value = self._qs.value("window/state", QByteArray(), type=QByteArray)
        return value if not value.isEmpty() else None

    def set_window_state(self, data: QByteArray) -> None:
        self._qs.setValue("window/state", data)

    # -- recent lists --------------------------------------------------------------------------
    def recent_runs(self) -> list[str]:
        return self._recent("recent/runs")

    def add_recent_run(self, path: str | Path) -> None:
        self._add_recent("recent/runs", str(path))

    def recent_corpora(self) -> list[str]:
        return self._recent("recent/corpora")

    def add_recent_corpus(self, path: str | Path) -> None:
        self._add_recent("recent/corpora", str(path))

    def _recent(self, key: str) -> list[str]:
        values = self._qs.value(key, [], type=list)
        return [str(v) for v in values if v]

    def _add_recent(self, key: str, item: str) -> None:
        items = [item] + [v for v in self._recent(key) if v != item]
        self._qs.setValue(key, items[:MAX_RECENT])

    # -- last set-up ---------------------------------------------------------------------------
    def last_setup(self) -> dict[str, Any]:
        """The Setup tab's last values as a dict (empty if none or unreadable)."""
        raw = self._qs.value("setup/last", "", type=str)
        try:
            data = json.loads(raw) if raw else {}
        except json.JSONDecodeError:  # a hand-edited or truncated file: start from defaults
            return {}
        return data if isinstance(data, dict) else {}

    def set_last_setup(self, data: dict[str, Any]) -> None:
        # Stored as one JSON string so nested values keep their types across restarts.
        self._qs.setValue("setup/last", json.dumps(data, sort_keys=True))

    # -- generic typed values ------------------------------------------------------------------
    def value_str(self, key: str, default: str = "") -> str:
        return self._qs.value(key, default, type=str)

    def value_bool(self, key: str, default: bool = False) -> bool:
        return self._qs.value(key, default, type=bool)

    def value_int(self, key: str, default: int = 0) -> int:
        return self._qs.value(key, default, type=int)

    def set_value(self, key: str, value: Any) -> None:
        self._qs.setValue(key, value)

    def sync(self) -> None:
        self._qs.sync()
