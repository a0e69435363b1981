"""The window's tabs, listed once: `TABS` is the registry the main window builds them from.

Each tab is a package (`tabs/<key>/`) whose widget is constructed with the session, subscribes
itself to the services it needs and offers its own menu actions (`Tab.tab_actions()`). The
window only lays them out in this order, gives Ctrl+1…N to them, and switches to one when the
session asks (`Session.show_tab(key)`). Adding a tab is one line here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gptstudio.ui.session import Session
    from gptstudio.ui.tabs.base import Tab


@dataclass(frozen=True)
class TabInfo:
    key: str  # what Session.show_tab() names
    title: str
    widget: str  # "module:Class", imported when the window is built
    object_name: str

    def create(self, session: Session) -> Tab:
        module, name = self.widget.split(":")
        tab = getattr(importlib.import_module(module), name)(session)
        tab.setObjectName(self.object_name)
        return tab


TABS: tuple[TabInfo, ...] = (
    TabInfo("setup", "Setup", "gptstudio.ui.tabs.setup.tab:SetupTab", "setupTab"),
    TabInfo("tokenizer", "Tokenizer", "gptstudio.ui.tabs.tokenizer.tab:TokenizerTab",
            "tokenizerTab"),
    TabInfo("train", "Train", "gptstudio.ui.tabs.train.tab:TrainTab", "trainTab"),
    TabInfo("attention", "Attention", "gptstudio.ui.tabs.attention.tab:AttentionTab",
            "attentionTab"),
    TabInfo("generate", "Generate", "gptstudio.ui.tabs.generate.tab:GenerateTab", "generateTab"),
    TabInfo("finetune", "Fine-tune", "gptstudio.ui.tabs.finetune.tab:FinetuneTab", "finetuneTab"),
)
