"""What the Setup tab asks for as a tokenizer, and which tiktoken encodings can be loaded here.

Left out: making the tokenizer (the Session does it with the engine) and the widgets.
"""

from __future__ import annotations

from dataclasses import dataclass

from gptstudio.core.tokenizers import Tokenizer

TIKTOKEN_NAMES = ("gpt2", "cl100k_base", "o200k_base")


@dataclass(frozen=True)
class TokenizerChoice:
    """kind: "char", "bpe" (vocab_size, pattern), "tiktoken:NAME", "file" (path), or "run"
    (the tokenizer of an opened run)."""

    kind: str
    vocab_size: int = 512
    pattern: str = "gpt2"
    path: str = ""


def named_tokenizer(name: str) -> Tokenizer:
    """One of tiktoken's named encodings (may download it once; run it in the background)."""
    from gptstudio.core.tokenizers import TiktokenTokenizer

    return TiktokenTokenizer.named(name)


def tiktoken_statuses() -> dict[str, tuple[bool, str]]:
    """(available, reason) of each named encoding; may probe the network for ~2 s."""
    from gptstudio.core.tokenizers import named_encoding_status

    return {name: named_encoding_status(name) for name in TIKTOKEN_NAMES}
