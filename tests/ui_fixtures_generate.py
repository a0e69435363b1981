"""The Generate tab's parts and requests for the app's tests (re-exported by ui_fixtures.py,
whose helpers these are: tests reach the tab only through them or by objectName)."""

from __future__ import annotations

__all__ = ["generate_tab", "generate_page", "generation_events", "wait_generate_idle",
           "branch_generation", "branch_menu", "save_chat_transcript"]


def show_tab(w, key: str) -> None:
    w.show_tab(key)


def generate_tab(w):
    return w.tab("generate")


def generate_page(w, name: str = "generate"):
    """Bring the Generate tab and its page forward ("generate", "compare", "score", "chat")."""
    tab = generate_tab(w)
    page = {"generate": tab.generate_page, "compare": tab.compare_page,
            "score": tab.score_page, "chat": tab.chat_page}[name]
    show_tab(w, "generate")
    tab.pages.setCurrentWidget(page)
    return page


def generation_events(w) -> list:
    """The TokenEvents the Generate page shows (the current generation or branch)."""
    return list(generate_tab(w).generate.events)


def wait_generate_idle(qtbot, w, timeout: int = 30_000) -> None:
    """Wait until the Generate tab runs nothing (a generation, a score, a chat reply...)."""
    qtbot.waitUntil(lambda: generate_tab(w).active is None, timeout=timeout)


def branch_generation(w, index: int, token_id: int) -> bool:
    """What choosing an alternative in a token's menu does."""
    return generate_tab(w).generate.branch(index, token_id)


def branch_menu(w, index: int):
    """The menu a click on generated token `index` opens (not shown)."""
    return generate_tab(w).generate.alternatives_menu(index)


def save_chat_transcript(w, path) -> bool:
    """What the chat page's Save… does once a file is chosen."""
    return generate_tab(w).chat.save(str(path))
