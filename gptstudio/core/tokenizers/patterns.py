"""The regular expressions that cut text into pieces before byte-pair merging.

A byte-level BPE never merges across the boundaries these patterns draw: a piece is a word with
its leading space, a run of digits, a run of punctuation or a run of whitespace. Choosing the
pattern is part of choosing the tokenizer, so it is saved with it by name *and* by text.

Holds the GPT-2 pattern (also r50k_base), the GPT-4 pattern (cl100k_base) and the o200k_base
pattern, written the way tiktoken writes them (possessive quantifiers, which the `regex` module
and tiktoken's Rust engine both understand). Leaves out the splitting itself: see `bpe.py`.
"""

from __future__ import annotations

import regex

from gptstudio.core.errors import TokenizerError

# GPT-2: contractions, then letters / digits / other symbols each with an optional leading
# space, then whitespace runs (the last space of a run stays with the next word).
GPT2_PATTERN = (
    r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
)

# GPT-4 (cl100k_base): case-insensitive contractions, a word may start with one punctuation
# mark, digits in groups of at most three, newlines kept apart from other whitespace.
GPT4_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
    r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)

# o200k_base (GPT-4o): words split at case changes, contractions glued to the word.
O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+"""
        r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*"""
        r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)

PATTERNS: dict[str, str] = {"gpt2": GPT2_PATTERN, "gpt4": GPT4_PATTERN, "o200k": O200K_PATTERN}

# The patterns a user may choose when training (o200k is only used by the named encoding).
TRAINABLE_PATTERNS = ("gpt2", "gpt4")


def pattern_regex(name: str) -> str:
    """The regex text of a named pattern ("gpt2", "gpt4" or "o200k")."""
    try:
        return PATTERNS[name]
    except KeyError:
        choices = ", ".join(sorted(PATTERNS))
        raise TokenizerError(f"Unknown split pattern {name!r}; choose one of {choices}.") from None


def compile_pattern(pattern: str) -> regex.Pattern:
    """Compile a split pattern with the `regex` module (it knows \\p{L} and possessive `++`)."""
    try:
        return regex.compile(pattern)
    except regex.error as exc:
        raise TokenizerError(f"The split pattern is not a valid regular expression: {exc}."
                             ) from None


def split_text(text: str, pattern: regex.Pattern) -> list[str]:
    """Cut text into the pieces BPE merges within.

    >>> split_text("Hello world's 2024!", compile_pattern(GPT2_PATTERN))
    ['Hello', ' world', "'s", ' 2024', '!']
    """
    return pattern.findall(text)
