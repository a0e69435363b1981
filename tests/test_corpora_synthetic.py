"""Synthetic task corpora: seeded, sized, well-formed, and with the documented attention pattern."""

from __future__ import annotations

import re

import pytest

from gptstudio.core.corpora import TASKS, ideal_attention, solve, synthetic_text
from gptstudio.core.corpora.synthetic import split_example
from gptstudio.core.errors import ConfigError

FORMATS = {
    "copy": r"[a-z]{3,8}\|[a-z]{3,8}",
    "reverse": r"[a-z]{3,8}\|[a-z]{3,8}",
    "sort": r"[0-9]{3,8}\|[0-9]{3,8}",
    "addition": r"[0-9]{1,2}\+[0-9]{1,2}=[0-9]{1,3}",
    "stories": r"[A-Z][A-Za-z ,.!\"]+[.!\"]",
}


@pytest.mark.parametrize("task", TASKS)
def test_same_seed_same_text_other_seed_other_text(task):
    a = synthetic_text(task, seed=1, size=2000)
    assert a == synthetic_text(task, seed=1, size=2000)
    assert a != synthetic_text(task, seed=2, size=2000)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("size", [1, 500, 20_000])
def test_size_is_reached_with_whole_lines(task, size):
    text = synthetic_text(task, seed=0, size=size)
    assert size <= len(text)
    lines = text.split("\n")
    assert lines[-1] == ""  # ends with a newline
    assert len(text) - len(lines[-2]) - 1 < size  # the last line was needed to reach the size


@pytest.mark.parametrize("task", TASKS)
def test_every_line_has_the_documented_format_and_is_correct(task):
    lines = synthetic_text(task, seed=3, size=5000).splitlines()
    for line in lines:
        assert re.fullmatch(FORMATS[task], line), line
        if task != "stories":
            question, answer = split_example(task, line)
            assert solve(task, question) == answer


def test_answers_follow_the_rules():
    assert solve("copy", "hbdf") == "hbdf"
    assert solve("reverse", "hbdf") == "fdbh"
    assert solve("sort", "3127") == "1237"
    assert solve("addition", "57+8") == "65"


def test_options_change_the_examples():
    long_copy = synthetic_text("copy", size=3000, min_len=10, max_len=10).splitlines()
    assert all(len(line) == 21 for line in long_copy)
    sums = synthetic_text("addition", size=3000, n_digits=4).splitlines()
    assert max(len(line.split("+")[0]) for line in sums) == 4


def test_stories_repeat_their_hero():
    for story in synthetic_text("stories", seed=5, size=3000).splitlines():
        hero = re.search(r"named (\w+)\.|^(\w+) was a", story)
        assert hero, story
        name = hero[1] or hero[2]
        assert story.count(name) >= 3, story


@pytest.mark.parametrize(
    "task, line, expected",
    [
        ("copy", "abc|abc", {3: (0,), 4: (1,), 5: (2,)}),
        ("reverse", "abc|cba", {3: (2,), 4: (1,), 5: (0,)}),
        # "3127" sorted: 1 is at 1, 2 at 2, 3 at 0, 7 at 3
        ("sort", "3127|1237", {4: (1,), 5: (2,), 6: (0,), 7: (3,)}),
        ("sort", "212|122", {3: (1,), 4: (0,), 5: (2,)}),  # ties: stable order
        # "57+8=65": tens digit 6 <- 5 (no tens in 8); units 5 <- 7 and 8
        ("addition", "57+8=65", {4: (0,), 5: (1, 3)}),
        # "99+1=100": the leading carry digit looks at the place below it
        ("addition", "99+1=100", {4: (0,), 5: (0,), 6: (1, 3)}),
    ],
)
def test_ideal_attention(task, line, expected):
    assert ideal_attention(task, line) == expected


def test_ideal_attention_of_copy_points_at_the_letter_being_predicted():
    for line in synthetic_text("copy", seed=9, size=500).splitlines():
        for query, (source,) in ideal_attention("copy", line).items():
            assert line[query + 1] == line[source]  # predicting the next token needs the source


def test_ideal_attention_in_stories_is_an_induction_pattern():
    line = "Tom met Ann. Tom smiled."
    # The second "Tom" starts at 13: "T" (13) predicts "o" -> look at 1; "o" (14) -> look at 2.
    assert ideal_attention("stories", line) == {13: (1,), 14: (2,)}


def test_errors():
    with pytest.raises(ConfigError, match="Unknown synthetic task 'multiply'"):
        synthetic_text("multiply")
    with pytest.raises(ConfigError, match="size of at least 1"):
        synthetic_text("copy", size=0)
    with pytest.raises(ConfigError, match="min_len"):
        synthetic_text("copy", min_len=5, max_len=2)
    with pytest.raises(ConfigError, match="at least 1 digit"):
        synthetic_text("addition", n_digits=0)
    with pytest.raises(ConfigError, match="not an addition question"):
        solve("addition", "1+")
    with pytest.raises(ConfigError, match="not a copy example"):
        split_example("copy", "abc")
    with pytest.raises(ConfigError, match="no single correct answer"):
        solve("stories", "Once")


def test_docstring_examples():
    import doctest

    from gptstudio.core.corpora import synthetic

    assert doctest.testmod(synthetic).failed == 0
