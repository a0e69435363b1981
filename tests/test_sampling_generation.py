"""One generation end to end (`core.generation`): batches, stop reasons, cut text, branches.

Mock models make the tokens known in advance; a small real GPT checks that a branch continues
exactly as generating from the branched text would.
"""

from __future__ import annotations

import threading

import pytest
import torch

from gptstudio.core.errors import ConfigError
from gptstudio.core.generation import (
    branch,
    parse_stop_strings,
    prompt_tokens,
    run_generation,
    visible_text,
)
from gptstudio.core.sampling import SamplingConfig, stream_tokens
from tests.test_sampling import EOT, TOK, SuccessorModel, tiny_gpt


def greedy(n: int, **kw) -> SamplingConfig:
    return SamplingConfig(temperature=0, max_new_tokens=n, **kw)


def test_result_matches_the_stream_and_says_why_it_stopped():
    result = run_generation(SuccessorModel(), TOK, "a", greedy(5))
    assert [e.piece for e in result.events] == list("bcdef")
    assert result.text == "bcdef" and result.stop_reason == "length"
    assert result.first_token_s <= result.seconds and result.tokens_per_s > 0
    eot = run_generation(SuccessorModel({ord("c"): EOT}), TOK, "a", greedy(9))
    assert eot.text == "bc" and eot.stop_reason == "eot"


def test_stop_string_is_cut_from_the_text_and_named():
    result = run_generation(SuccessorModel(), TOK, "a", greedy(20, stop_strings=("de",)))
    assert "".join(e.piece for e in result.events) == "bcde"  # the stream includes it
    assert result.text == "bc"
    assert result.stop_reason == "stop_string" and result.stop_string == "de"
    assert "'de'" in result.stop_message


def test_batches_deliver_every_token_once_in_order_and_the_first_alone():
    batches: list[list] = []
    result = run_generation(SuccessorModel(), TOK, "a", greedy(30), on_tokens=batches.append,
                            batch_seconds=3600)
    assert len(batches[0]) == 1  # the first token at once
    assert [e for b in batches for e in b] == list(result.events)
    assert len(batches) == 2  # then the rest when it ends (nothing was due before)
    each: list[list] = []
    run_generation(SuccessorModel(), TOK, "a", greedy(4), on_tokens=each.append)
    assert [len(b) for b in each] == [1, 1, 1, 1]


def test_cancel_mid_stream_keeps_what_came_and_says_stopped():
    cancel = threading.Event()
    seen = []

    def on_tokens(batch):
        seen.extend(batch)
        if len(seen) == 3:
            cancel.set()

    result = run_generation(SuccessorModel(), TOK, "a", greedy(50), cancel=cancel,
                            on_tokens=on_tokens)
    assert len(result.events) == 3 and result.stop_reason == "cancelled"
    assert seen == list(result.events)


def test_a_character_cut_in_half_is_shown_as_its_bytes():
    model = SuccessorModel(successors={ord("a"): 0xE2, 0xE2: 0x82})  # "€" is e2 82 ac
    result = run_generation(model, TOK, "a", greedy(2))
    assert [e.piece for e in result.events] == ["", ""]
    assert result.text == "⟨e2 82⟩"
    whole = SuccessorModel(successors={ord("a"): 0xE2, 0xE2: 0x82, 0x82: 0xAC, 0xAC: ord("!")})
    assert run_generation(whole, TOK, "a", greedy(4)).text == "€!"
    assert visible_text(TOK, []) == ""


def test_prompt_longer_than_the_context_is_cropped_and_says_so():
    info = prompt_tokens(TOK, "x" * 100, block_size=64)
    assert info.n_cropped == 36 and len(info.ids) == 100
    result = run_generation(SuccessorModel(block_size=64), TOK, "x" * 100, greedy(2))
    assert result.prompt.n_cropped == 36
    assert prompt_tokens(TOK, "", 64).ids == (EOT,)


def test_a_branch_keeps_the_prefix_and_continues_from_the_chosen_token():
    model = tiny_gpt(block_size=32, seed=2)
    config = SamplingConfig(max_new_tokens=12, seed=7, stop_at_eot=False)
    first = run_generation(model, TOK, "The cat", config)
    at = 4
    alternative = next(i for i, _, _ in first.events[at].alternatives
                       if i != first.events[at].id)
    start = branch(TOK, TOK.encode("The cat"), first.events, at, alternative)
    assert start.events[:at] == first.events[:at]
    assert start.events[at].id == alternative
    assert start.events[at].prob == dict(
        (i, p) for i, _, p in first.events[at].alternatives)[alternative]
    cont = run_generation(model, TOK, list(start.ids), config, first_events=start.events)
    assert cont.events[:at + 1] == start.events
    # The continuation is what generating after the branched ids gives, with the same seed.
    expected = [e.id for e in stream_tokens(model, TOK, list(start.ids), config)]
    assert [e.id for e in cont.events[at + 1:]] == expected
    assert cont.text.startswith("".join(e.piece for e in first.events[:at]))
    assert len(cont.events) == at + 1 + 12


def test_a_branch_inside_a_character_completes_it():
    # After "a": e2 82 ac is "€"; branching the third byte to 0xA2 makes "₢" (e2 82 a2).
    model = SuccessorModel(successors={ord("a"): 0xE2, 0xE2: 0x82, 0x82: 0xAC})
    events = run_generation(model, TOK, "a", SamplingConfig(temperature=0, max_new_tokens=3,
                                                            n_alternatives=3)).events
    start = branch(TOK, [ord("a")], events, 2, 0xA2)
    assert start.events[2].piece == "₢" and start.events[2].prob == 0.0  # not an alternative
    cont = run_generation(model, TOK, list(start.ids), greedy(1), first_events=start.events)
    assert cont.text.startswith("₢")


def test_branching_outside_the_text_is_refused():
    events = run_generation(SuccessorModel(), TOK, "a", greedy(2)).events
    with pytest.raises(ConfigError, match="no generated token at position 5"):
        branch(TOK, [97], events, 5, 1)
    with pytest.raises(ConfigError, match="not in the vocabulary"):
        branch(TOK, [97], events, 0, 9999)


def test_stop_strings_typed_in_one_line():
    assert parse_stop_strings(r"\n\n, END ,\t") == ("\n\n", "END", "\t")
    assert parse_stop_strings(r"a\,b") == ("a,b",)
    assert parse_stop_strings(" , ,") == ()
    assert parse_stop_strings(r"back\\slash") == ("back\\slash",)


def test_same_seed_same_text_as_the_plain_stream():
    model = tiny_gpt()
    config = SamplingConfig(max_new_tokens=20, seed=11, temperature=0.9, top_k=20)
    ours = run_generation(model, TOK, "Hi", config, batch_seconds=0.5).text
    torch.manual_seed(123)  # the global generator is not what seeds sampling
    assert ours == "".join(e.piece for e in stream_tokens(model, TOK, "Hi", config))
