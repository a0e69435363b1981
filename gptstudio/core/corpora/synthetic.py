"""Synthetic corpora: seeded generators of small tasks whose ideal attention pattern is known.

Every line of a generated text is one example, in a fixed format (a character tokenizer sees one
character per token, which is what the positions below count):

    task       example line      rule
    copy       "hbdf|hbdf"       the letters again
    reverse    "hbdf|fdbh"       the letters backwards
    sort       "3127|1237"       the digits in ascending order
    addition   "57+8=65"         the sum; operands are uniform in [0, 10**n_digits), no padding
    stories    "Once upon a time, there was a shy owl named Mia. ..."   a tiny story grammar

A model that has learnt copy must, to write the k-th answer letter, look back at the k-th
question letter; for reverse at the k-th letter from the end; for sort at where the k-th smallest
digit sits; for addition at the two digits of the same place value (plus the carry from the
right). `ideal_attention` returns exactly these positions so the attention tab can show the
pattern a perfect model would learn. In the stories a name that comes back is a textbook case for
an induction head: after the name's first letter, look at what followed that letter last time.

The same seed and options always give the same text (Python's `random.Random`, whose sequences are
stable across platforms). Left out: anything read from disk (`files.py`, `stdlib_source.py`).
"""

from __future__ import annotations

import random
import re

from gptstudio.core.errors import ConfigError

TASKS = ("copy", "reverse", "sort", "addition", "stories")
DEFAULT_SIZE = 200_000  # characters

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_DIGITS = "0123456789"


def synthetic_text(
    task: str,
    *,
    seed: int = 0,
    size: int = DEFAULT_SIZE,
    min_len: int = 3,
    max_len: int = 8,
    n_digits: int = 2,
) -> str:
    """A text of whole example lines, each ending in "\\n", at least `size` characters long.

    `min_len`/`max_len` bound the question length of copy, reverse and sort; `n_digits` is the
    largest operand length of addition.
    """
    _check_task(task)
    if size < 1:
        raise ConfigError(f"A synthetic corpus needs a size of at least 1 character, not {size}.")
    if not 1 <= min_len <= max_len:
        raise ConfigError(f"Need 1 <= min_len <= max_len, got {min_len} and {max_len}.")
    if n_digits < 1:
        raise ConfigError(f"Addition needs at least 1 digit per operand, not {n_digits}.")
    rng = random.Random(seed)
    lines: list[str] = []
    total = 0
    while total < size:
        line = _make_example(task, rng, min_len, max_len, n_digits)
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines) + "\n"


def _make_example(task: str, rng: random.Random, min_len: int, max_len: int, n_digits: int) -> str:
    if task == "stories":
        return make_story(rng)
    if task == "addition":
        a, b = rng.randrange(10**n_digits), rng.randrange(10**n_digits)
        question = f"{a}+{b}"
    else:
        alphabet = _DIGITS if task == "sort" else _LETTERS
        question = "".join(rng.choice(alphabet) for _ in range(rng.randint(min_len, max_len)))
    return question + _separator(task) + solve(task, question)


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ConfigError(f"Unknown synthetic task {task!r}; choose one of {', '.join(TASKS)}.")


def _separator(task: str) -> str:
    return "=" if task == "addition" else "|"


def solve(task: str, question: str) -> str:
    """The correct answer to a question (the part of an example line before its separator).

    >>> solve("reverse", "abc"), solve("sort", "312"), solve("addition", "12+34")
    ('cba', '123', '46')
    """
    _check_task(task)
    if task == "copy":
        return question
    if task == "reverse":
        return question[::-1]
    if task == "sort":
        return "".join(sorted(question))
    if task == "addition":
        match = re.fullmatch(r"(\d+)\+(\d+)", question)
        if not match:
            raise ConfigError(f"{question!r} is not an addition question like '12+34'.")
        return str(int(match[1]) + int(match[2]))
    raise ConfigError("Stories have no single correct answer.")


def split_example(task: str, line: str) -> tuple[str, str]:
    """Split an example line into (question, answer): "12+34=46" -> ("12+34", "46")."""
    _check_task(task)
    if task == "stories":
        raise ConfigError("Stories have no question and answer.")
    question, sep, answer = line.partition(_separator(task))
    if not sep or not question:
        raise ConfigError(f"{line!r} is not a {task} example (expected 'question{_separator(task)}"
                          f"answer').")
    return question, answer


def ideal_attention(task: str, line: str) -> dict[int, tuple[int, ...]]:
    """Where a perfect model looks: {query position: source positions} within one example line.

    The token at position q predicts the token at q + 1; the sources are the positions holding
    what that prediction needs. Copy "ab|ab": {2: (0,), 3: (1,)}. Addition lists the two digits of
    the answer digit's place value (the carry also depends on the digits to their right).
    Stories: each later mention of a name, letter by letter, looks at the letter that followed
    the same prefix in the first mention (an induction head).
    """
    if task == "stories":
        return _induction_pattern(line)
    question, answer = split_example(task, line)
    first = len(question)  # the separator's position: it predicts answer[0]
    if task == "addition":
        return _addition_pattern(question, answer, first)
    n = len(question)
    if task == "copy":
        sources = list(range(n))
    elif task == "reverse":
        sources = list(range(n - 1, -1, -1))
    else:  # sort: a stable sort of positions by their digit
        sources = sorted(range(n), key=lambda i: question[i])
    return {first + k: (sources[k],) for k in range(min(n, len(answer)))}


def _addition_pattern(question: str, answer: str, first: int) -> dict[int, tuple[int, ...]]:
    a, b = question.split("+")
    b_start = len(a) + 1
    pattern: dict[int, tuple[int, ...]] = {}
    for k in range(len(answer)):
        place = len(answer) - 1 - k  # 0 = units
        if place >= max(len(a), len(b)):  # the leading carry digit: it comes from the place below
            place -= 1
        sources = []
        if place < len(a):
            sources.append(len(a) - 1 - place)
        if place < len(b):
            sources.append(b_start + len(b) - 1 - place)
        pattern[first + k] = tuple(sources)
    return pattern


def _induction_pattern(line: str) -> dict[int, tuple[int, ...]]:
    pattern: dict[int, tuple[int, ...]] = {}
    for name in _NAMES:
        mentions = [m.start() for m in re.finditer(rf"\b{name}\b", line)]
        for later in mentions[1:]:
            for k in range(1, len(name)):  # the letter before predicts name[k]; look at 1st + k
                pattern[later + k - 1] = (mentions[0] + k,)
    return dict(sorted(pattern.items()))


# --- the story grammar ----------------------------------------------------------------------------
# Plain words a small model can learn in minutes; one story per line, names repeated on purpose.

_NAMES = ("Tom", "Mia", "Ben", "Lily", "Sam", "Anna", "Max", "Zoe", "Leo", "Ruby")
_ANIMALS = ("fox", "bear", "rabbit", "owl", "mouse", "cat", "dog", "duck", "frog", "goat")
_ADJECTIVES = ("little", "brave", "shy", "happy", "clever", "sleepy", "kind", "curious")
_PLACES = ("in the forest", "by the river", "on a farm", "near the sea", "in a small town",
           "on a green hill")
_THINGS = ("ball", "kite", "box", "key", "hat", "apple", "book", "drum", "shell", "boat")
_COLOURS = ("red", "blue", "green", "yellow", "shiny", "old", "big", "tiny")
_SPOTS = ("under a tree", "in the grass", "near the water", "behind a rock", "in the snow")
_FEELINGS = ("happy", "sad", "scared", "surprised", "proud", "tired")


def make_story(rng: random.Random) -> str:
    """One story of four or five sentences on a single line."""
    hero, friend = rng.sample(_NAMES, 2)
    animal, friend_animal = rng.sample(_ANIMALS, 2)
    thing, colour = rng.choice(_THINGS), rng.choice(_COLOURS)
    feeling = rng.choice(_FEELINGS)
    opening = rng.choice((
        f"Once upon a time, there was a {rng.choice(_ADJECTIVES)} {animal} named {hero}.",
        f"{hero} was a {rng.choice(_ADJECTIVES)} {animal} who lived {rng.choice(_PLACES)}.",
    ))
    finding = f"One day, {hero} found a {colour} {thing} {rng.choice(_SPOTS)}."
    middle = rng.choice((
        f"{hero} wanted to share it with {friend} the {friend_animal}.",
        f"{hero} did not know what to do with the {thing}.",
        f"{hero} felt {feeling}.",
    ))
    turn = rng.choice((
        f'{friend} said, "Let us play with the {thing} together!"',
        f"So {hero} gave the {thing} to {friend}.",
        f"{hero} took the {thing} home.",
    ))
    sentences = [opening, finding, middle, turn]
    if rng.random() < 0.5:
        sentences.append(rng.choice((
            "They played all day and became good friends.",
            f"In the end, {hero} was {rng.choice(_FEELINGS)} and smiled.",
            "The end.",
        )))
    return " ".join(sentences)
