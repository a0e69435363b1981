"""The Tokenizer tab's parts and requests for the app's tests (re-exported by ui_fixtures.py,
whose helpers these are: tests reach the tab only through them or by objectName)."""

from __future__ import annotations

__all__ = ["tokenizer_tab", "tokenizer_lab", "tokenizer_page", "tokenizer_choice",
           "wait_tokens", "save_trained_bpe"]


def tokenizer_tab(w):
    return w.tab("tokenizer")


def tokenizer_lab(w):
    """The Tokenizer tab's background work (its signals: bpe_trained, evaluated, ...)."""
    return tokenizer_tab(w).lab


def tokenizer_page(w, name: str):
    """Bring the Tokenizer tab and its page `name` forward ("text", "compare", "bpe", "vocab",
    "windows") and return the page."""
    tab = tokenizer_tab(w)
    page = {"text": tab.text_page, "compare": tab.compare_page, "bpe": tab.bpe_page,
            "vocab": tab.vocab_page, "windows": tab.windows_page}[name]
    w.show_tab("tokenizer")
    tab.pages.setCurrentWidget(page)
    return page


def tokenizer_choice(w, which="main"):
    """The tab's tokenizer picker ("main") or compare column 1..3's (a ChoiceBox)."""
    tab = tokenizer_tab(w)
    return tab.choice if which == "main" else tab.compare_page.columns[which - 1].choice


def wait_tokens(qtbot, w, view: str = "main", timeout: int = 20_000) -> None:
    """Wait until a token view ("main", "compare1".."compare3", "merges") shows the current
    text under its current tokenizer."""
    qtbot.waitUntil(lambda: tokenizer_tab(w).view_is_current(view), timeout=timeout)


def save_trained_bpe(w, path, *, use: bool = False) -> bool:
    """What Save… (use=False) or "Use for the next run" (use=True, with its own path) does."""
    return tokenizer_tab(w).save_trained(path, use=use)
