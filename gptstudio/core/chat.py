"""Chat with an instruction-tuned model: the conversation as the prompt the model was tuned on.

An instruction-tuned run (the fine-tuning issue records `data_config["task"] == "instructions"`)
learned to continue a prompt written with an instruction template (Alpaca's by default,
`gptstudio.core.finetune.template`) with an answer and an end-of-text token. A conversation is
therefore written as a series of such records: each earlier exchange is a filled template plus
the model's reply plus end-of-text, and the new message is a template ending at
"### Response:\\n", which the model continues.

The history is kept within the context: the oldest exchanges are left out until the prompt
leaves room for the answer (`chat_prompt`), and the result says how many were. Generation
stops at end-of-text, or where the model starts writing a new record itself
(`chat_stop_strings`). A model that was not instruction-tuned knows no template (nor, with a
small character vocabulary, even its characters): its prompt is the plain conversation, turns
separated by a blank line, which it just continues; `chat_notice` says what to expect then.

Left out: sampling (`sampling.py`), the templates (`finetune/template.py`) and widgets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gptstudio.core.errors import ConfigError
from gptstudio.core.finetune.template import ALPACA_TEMPLATE, TEMPLATES, PromptTemplate

Role = Literal["user", "assistant"]
DOCUMENT_END = "<|endoftext|>"


@dataclass(frozen=True)
class ChatTurn:
    role: Role
    text: str


def is_instruction_tuned(data_config: Mapping[str, Any] | None) -> bool:
    """Whether a run's data_config says it was fine-tuned on instructions."""
    return bool(data_config) and data_config.get("task") == "instructions"


def chat_template(data_config: Mapping[str, Any] | None) -> PromptTemplate:
    """The template a run was tuned with (its fine-tuning spec's "template"), else Alpaca."""
    spec = (data_config or {}).get("finetune")
    name = spec.get("template") if isinstance(spec, Mapping) else None
    return TEMPLATES.get(name, ALPACA_TEMPLATE) if isinstance(name, str) else ALPACA_TEMPLATE


def chat_notice(instruction_tuned: bool) -> str:
    """What to expect from a model, in one or two sentences."""
    if instruction_tuned:
        return ("This model was fine-tuned on instructions: ask it something and it answers "
                "in the style it was tuned on.")
    return ("This model was not instruction-tuned: it will not answer you, it will continue "
            "your message as if writing more of its training text. Fine-tune a run on "
            "instructions to chat with it.")


def chat_stop_strings(template: PromptTemplate | None) -> tuple[str, ...]:
    """Where a reply ends if the model starts a new record instead of ending the text."""
    if template is None:
        return ()
    stops = [template.instruction_part.split("{instruction}")[0].strip("\n")]
    if template.header.strip():
        stops.append(template.header.strip())
    return tuple(s for s in stops if s)


@dataclass(frozen=True)
class ChatPrompt:
    text: str  # the prompt to generate from
    n_tokens: int
    turns_kept: int  # earlier turns (user and assistant) still in the prompt
    turns_dropped: int  # earlier turns left out to make room


PLAIN_SEPARATOR = "\n\n"  # between turns, for a model without a template


def _record(template: PromptTemplate | None, user: str, reply: str | None, end: str) -> str:
    if template is None:
        return user + PLAIN_SEPARATOR if reply is None else user + PLAIN_SEPARATOR + reply + end
    prompt = template.format(user)
    return prompt if reply is None else prompt + reply + end


def chat_prompt(
    history: Sequence[ChatTurn],
    message: str,
    tokenizer: Any,
    *,
    block_size: int,
    reply_tokens: int,
    template: PromptTemplate | None = ALPACA_TEMPLATE,
) -> ChatPrompt:
    """The prompt for `message` after `history` (user/assistant turns, oldest first), leaving
    `reply_tokens` of the context free for the answer (at most half of it). `template` None:
    the plain conversation (a model that was not instruction-tuned). ConfigError for an empty
    message. The new message alone may still be longer than the context: generation then crops
    it on the left (see `GenerationResult.prompt`)."""
    if not message.strip():
        raise ConfigError("Type a message first.")
    end = DOCUMENT_END if tokenizer.eot_id is not None and template is not None \
        else PLAIN_SEPARATOR
    exchanges: list[tuple[str, str]] = []
    pending: str | None = None
    for turn in history:
        if turn.role == "user":
            pending = turn.text
        elif pending is not None:
            exchanges.append((pending, turn.text))
            pending = None
    budget = block_size - min(reply_tokens, block_size // 2)
    current = _record(template, message, None, end)
    kept = len(exchanges)

    def text_of(k: int) -> str:
        parts = [_record(template, u, r, end) for u, r in exchanges[len(exchanges) - k:]]
        return "".join(parts) + current

    def count(text: str) -> int:
        return len(tokenizer.encode(text, allowed_special="all"))

    while kept > 0 and count(text_of(kept)) > budget:
        kept -= 1
    text = text_of(kept)
    return ChatPrompt(text, count(text), 2 * kept, 2 * (len(exchanges) - kept))


def clean_reply(text: str) -> str:
    """A reply as shown: without surrounding blank space."""
    return text.strip()


def transcript_markdown(turns: Sequence[ChatTurn], *, model: str = "") -> str:
    """The conversation as Markdown, for copying or saving."""
    lines = ["# Chat transcript", ""]
    if model:
        lines += [f"Model: {model}", ""]
    for turn in turns:
        who = "You" if turn.role == "user" else "Model"
        lines += [f"**{who}:**", "", turn.text, ""]
    return "\n".join(lines)
