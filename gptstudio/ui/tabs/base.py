"""What every tab offers the window: its menu actions, and re-colouring after a theme switch.

A tab is a QWidget that also derives from `Tab`. Its actions are QActions it owns and connects
itself; the window only places them in the menu their `TabAction.menu` names and lists their
shortcuts in the shortcuts dialog. Left out: any tab's contents.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QWidget

from gptstudio.ui.theme import PlotTheme
from gptstudio.ui.widgets.form import ErrorLabel

MENUS = ("File", "Training", "View")  # the menus tabs may add to, in menu-bar order


@dataclass(frozen=True)
class TabAction:
    """An action (or a submenu) a tab adds to one of the window's menus."""

    menu: str  # one of MENUS
    action: QAction | None = None
    submenu: QMenu | None = None


class Tab:
    """Mixin for tab widgets; both methods have working defaults."""

    def tab_actions(self) -> list[TabAction]:
        """The tab's menu entries, in order."""
        return []

    def apply_theme(self, theme: PlotTheme) -> None:
        """Re-colour what Qt does not (error text; plots in tabs that have them)."""
        assert isinstance(self, QWidget)
        for label in self.findChildren(ErrorLabel):
            label.apply_theme(theme)
