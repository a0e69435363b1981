"""Colours for plots and status text that read well on both light and dark palettes.

The widgets themselves follow the system palette (Fusion style); only what Qt cannot pick for
us lives here: plot backgrounds, curve colours, and the colour of error text. Left out: layout.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette


@dataclass(frozen=True)
class PlotTheme:
    background: str
    foreground: str  # axes, labels, hover text
    grid_alpha: float
    train: str
    val: str
    raw_alpha: int  # 0-255, for the unsmoothed train curve behind the smoothed one
    overlays: tuple[str, ...]  # earlier runs, in turn
    error: str  # error labels next to form fields
    ok: str
    token_colors: tuple[str, str]  # alternating backgrounds of token pieces
    muted: str  # secondary text, e.g. the hex of a token's loose bytes


LIGHT = PlotTheme(
    background="#ffffff", foreground="#303030", grid_alpha=0.25,
    train="#1f77b4", val="#d62728", raw_alpha=70,
    overlays=("#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"),
    error="#c62828", ok="#2e7d32", token_colors=("#d6e6f5", "#f5e1c8"), muted="#6a6a6a",
)

DARK = PlotTheme(
    background="#1e1e1e", foreground="#dddddd", grid_alpha=0.3,
    train="#4fa3e0", val="#ff6b6b", raw_alpha=90,
    overlays=("#7bd88f", "#c39bff", "#e0a070", "#ff9ad5", "#b0b0b0", "#e6e67a"),
    error="#ff7b7b", ok="#81c784", token_colors=("#24415c", "#5a4122"), muted="#a8a8a8",
)


def is_dark_palette() -> bool:
    """True when the system (or the user) asked for a dark colour scheme."""
    if QGuiApplication.instance() is None:
        return False
    scheme = QGuiApplication.styleHints().colorScheme()
    if scheme == Qt.ColorScheme.Dark:
        return True
    if scheme == Qt.ColorScheme.Light:
        return False
    # Unknown scheme (offscreen, old desktops): judge from the window colour itself.
    return QGuiApplication.palette().window().color().lightness() < 128


def plot_theme() -> PlotTheme:
    """The theme matching the current palette."""
    return DARK if is_dark_palette() else LIGHT


def dark_palette() -> QPalette:
    """A dark palette for the Fusion style, for platforms whose theme does not provide one
    (offscreen rendering, older desktops). Where Qt knows the system is dark it does this itself."""
    p = QPalette()
    window, base, text = QColor(45, 45, 48), QColor(30, 30, 30), QColor(220, 220, 220)
    roles = {
        QPalette.ColorRole.Window: window, QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base, QPalette.ColorRole.AlternateBase: QColor(40, 40, 43),
        QPalette.ColorRole.Text: text, QPalette.ColorRole.Button: window,
        QPalette.ColorRole.ButtonText: text, QPalette.ColorRole.ToolTipBase: base,
        QPalette.ColorRole.ToolTipText: text, QPalette.ColorRole.Highlight: QColor(42, 130, 218),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.PlaceholderText: QColor(140, 140, 140),
        QPalette.ColorRole.Link: QColor(90, 170, 255),
    }
    for role, color in roles.items():
        p.setColor(role, color)
    for role in (QPalette.ColorRole.WindowText, QPalette.ColorRole.Text,
                 QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(120, 120, 120))
    return p
