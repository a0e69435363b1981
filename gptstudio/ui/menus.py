"""The main window's menus, built from the window's own actions and the tabs' (`TabAction`).

File (new run, open corpus/run, recent runs, then the tabs' File entries, quit), Training and
View (Ctrl+1…N for the tabs from the registry, then the tabs' View entries), Help (tour,
shortcuts, about). The shortcuts dialog lists every action that has a shortcut, so it can never
drift from the menus. Left out: what the actions do (their owners' slots).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from gptstudio.ui.tabs import TabInfo
from gptstudio.ui.tabs.base import MENUS, TabAction

KEYS = QKeySequence.StandardKey


@dataclass
class WindowActions:
    """The actions the window itself owns (enabled by the training state: `new_run`)."""

    new_run: QAction
    open_corpus: QAction
    open_run: QAction
    quit: QAction
    shortcuts: QAction
    about: QAction
    recent_menu: QMenu
    tabs: list[QAction]
    tour: QAction | None = None  # Help > Tour (ui/tour.py)


def action(window: QMainWindow, text: str, slot: Callable[[], object],
           shortcut: str | QKeySequence.StandardKey | None = None, name: str = "",
           tip: str = "") -> QAction:
    """A window action; `tip` says what it does (status bar, shortcuts dialog)."""
    item = QAction(text, window)
    if shortcut is not None:
        item.setShortcut(QKeySequence(shortcut))
    if name:
        item.setObjectName(name)
    if tip:
        item.setStatusTip(tip)
    item.triggered.connect(slot)
    return item


def build_menus(window: QMainWindow, own: WindowActions, infos: Sequence[TabInfo],
                tab_actions: Sequence[TabAction]) -> None:
    """Fill `window`'s menu bar."""
    bar = window.menuBar()
    menus = {name: QMenu(f"&{name}", window) for name in MENUS}
    file = menus["File"]
    file.addActions([own.new_run, own.open_corpus, own.open_run])
    file.addMenu(own.recent_menu)
    file.addSeparator()
    _add(file, [a for a in tab_actions if a.menu == "File"])
    file.addSeparator()
    file.addAction(own.quit)
    _add(menus["Training"], [a for a in tab_actions if a.menu == "Training"])
    view = menus["View"]
    view.addActions(own.tabs)
    view.addSeparator()
    _add(view, [a for a in tab_actions if a.menu == "View"])
    for name in MENUS:
        bar.addMenu(menus[name])
    help_menu = bar.addMenu("&Help")
    help_menu.addActions([a for a in (own.tour, own.shortcuts, own.about) if a is not None])


def _add(menu: QMenu, entries: Sequence[TabAction]) -> None:
    for entry in entries:
        if entry.submenu is not None:
            menu.addMenu(entry.submenu)
        if entry.action is not None:
            menu.addAction(entry.action)


def shortcut_rows(actions: Sequence[QAction]) -> list[tuple[str, str]]:
    """(keys, what) for each action with a shortcut, described by its status tip (else its
    text); the tab switches folded into one row. Return is named Enter, as on the key."""
    rows, tab_keys, tab_names = [], [], []
    for item in actions:
        keys = item.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        if not keys:
            continue
        keys = keys.replace("Return", "Enter")
        text = item.statusTip() or item.text().replace("&", "").removesuffix("…")
        if item.objectName().startswith("showTab:"):
            tab_keys.append(keys)
            tab_names.append(item.text().replace("&", "").removesuffix(" tab"))
        else:
            rows.append((keys, text))
    if tab_keys:
        keys = f"{tab_keys[0]} … {tab_keys[-1]}" if len(tab_keys) > 2 else " / ".join(tab_keys)
        rows.append((keys, " / ".join(tab_names) + " tab"))
    return rows
