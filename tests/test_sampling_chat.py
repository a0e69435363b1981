"""Chat prompts (`core.chat`): the instruction template, history within the context, notices."""

from __future__ import annotations

import pytest

from gptstudio.core.chat import (
    ChatTurn,
    chat_prompt,
    chat_stop_strings,
    chat_template,
    is_instruction_tuned,
    transcript_markdown,
)
from gptstudio.core.errors import ConfigError
from gptstudio.core.finetune.template import ALPACA_TEMPLATE, TEMPLATES, format_instruction
from tests.test_sampling import TOK


def test_a_first_message_is_exactly_the_alpaca_prompt():
    prompt = chat_prompt([], "Name a colour.", TOK, block_size=1024, reply_tokens=50)
    assert prompt.text == format_instruction("Name a colour.")
    assert prompt.text.endswith("\n\n### Response:\n")
    assert prompt.n_tokens == len(TOK.encode(prompt.text))
    assert (prompt.turns_kept, prompt.turns_dropped) == (0, 0)


def test_history_is_earlier_records_each_ended_by_end_of_text():
    history = [ChatTurn("user", "Hi"), ChatTurn("assistant", "Hello."),
               ChatTurn("user", "Again"), ChatTurn("assistant", "Hello again.")]
    prompt = chat_prompt(history, "Bye", TOK, block_size=4096, reply_tokens=50)
    expected = (format_instruction("Hi") + "Hello.<|endoftext|>"
                + format_instruction("Again") + "Hello again.<|endoftext|>"
                + format_instruction("Bye"))
    assert prompt.text == expected and prompt.turns_kept == 4


def test_oldest_turns_are_dropped_to_leave_room_for_the_reply():
    history = []
    for k in range(6):
        history += [ChatTurn("user", f"Question {k}"), ChatTurn("assistant", f"Answer {k}.")]
    one_record = len(TOK.encode(format_instruction("Question 0") + "Answer 0.<|endoftext|>"))
    block = 4 * one_record
    prompt = chat_prompt(history, "Last", TOK, block_size=block, reply_tokens=one_record)
    assert prompt.n_tokens <= block - one_record
    assert prompt.turns_dropped > 0 and prompt.turns_kept + prompt.turns_dropped == 12
    assert "Answer 5." in prompt.text and "Answer 0." not in prompt.text
    # Kept as many as fit: one more exchange would not have.
    assert prompt.n_tokens + one_record > block - one_record


def test_stop_strings_end_a_reply_where_a_new_record_would_begin():
    stops = chat_stop_strings(ALPACA_TEMPLATE)
    assert "### Instruction:" in stops
    reply_then_more = "Blue." + format_instruction("Next?")
    assert any(s in reply_then_more for s in stops)
    assert not any(s in "Blue is a colour of the sky." for s in stops)
    for template in TEMPLATES.values():
        assert chat_stop_strings(template)


def test_which_runs_are_instruction_tuned_and_their_template():
    assert is_instruction_tuned({"task": "instructions"})
    assert not is_instruction_tuned({"corpus": "builtin:fables"})
    assert not is_instruction_tuned(None)
    assert chat_template({"task": "instructions"}) is ALPACA_TEMPLATE
    assert chat_template({"finetune": {"template": "phi3"}}) is TEMPLATES["phi3"]
    assert chat_template({"finetune": {"template": "nonsense"}}) is ALPACA_TEMPLATE


def test_empty_message_is_refused_and_the_transcript_is_markdown():
    with pytest.raises(ConfigError, match="Type a message"):
        chat_prompt([], "  ", TOK, block_size=64, reply_tokens=8)
    md = transcript_markdown([ChatTurn("user", "Hi"), ChatTurn("assistant", "Hello.")],
                             model="run-1, step 200")
    assert md.splitlines()[0] == "# Chat transcript"
    assert "**You:**\n\nHi" in md and "**Model:**\n\nHello." in md and "run-1, step 200" in md


def test_a_model_without_a_template_gets_the_plain_conversation():
    history = [ChatTurn("user", "Once upon a time"), ChatTurn("assistant", "there was a fox.")]
    prompt = chat_prompt(history, "The fox", TOK, block_size=1024, reply_tokens=20,
                         template=None)
    assert prompt.text == "Once upon a time\n\nthere was a fox.\n\nThe fox\n\n"
    assert "###" not in prompt.text and chat_stop_strings(None) == ()
