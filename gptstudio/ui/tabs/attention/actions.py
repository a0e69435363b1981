"""The Attention tab's menu actions: export the heatmap or the grid as a PNG picture.

A picture is the widget as it looks now (`QWidget.grab()`), written atomically (`QSaveFile`).
Left out: what is drawn (the widgets).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSaveFile
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget

from gptstudio.ui.tabs.base import TabAction


def write_widget_png(widget: QWidget, path: str | Path) -> bool:
    """Save `widget` as it is drawn now, as PNG; False if the file cannot be written."""
    pixmap = widget.grab()
    out = QSaveFile(str(path))
    return bool(out.open(QSaveFile.OpenModeFlag.WriteOnly) and pixmap.save(out, "PNG")
                and out.commit())


class AttentionActions:
    """File > Export attention heatmap / grid PNG…"""

    def __init__(self, tab: QWidget) -> None:
        self.export_heatmap = QAction("Export attention &heatmap PNG…", tab)
        self.export_heatmap.setObjectName("exportHeatmapAction")
        self.export_heatmap.setStatusTip("Export the Attention tab's heatmap as PNG")
        self.export_grid = QAction("Export attention &grid PNG…", tab)
        self.export_grid.setObjectName("exportGridAction")
        self.export_grid.setStatusTip("Export the Attention tab's grid of all heads as PNG")

    def entries(self) -> list[TabAction]:
        return [TabAction("File", self.export_heatmap), TabAction("File", self.export_grid)]
