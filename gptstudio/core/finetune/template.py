"""Prompt templates for instruction fine-tuning: how a record becomes the text a model reads.

An instruction record has an `instruction`, an optional `input` and an `output`. Fine-tuning
teaches the model to continue a *prompt* (the template filled with the instruction and input)
with the *response* (the output). The template is fixed text around the fields, so the model
learns where the request ends and its answer begins; generating from the same prompt later makes
it answer. The default is the Alpaca template the book uses in chapter 7 (Stanford Alpaca's
prompt); "phi3" is the shorter one of the book's exercise 7.1.

    >>> ALPACA_TEMPLATE.header
    'Below is an instruction that describes a task. Write a response that appropriately \
completes the request.'
    >>> def show(prompt):  # the header shortened, "|" marking the end
    ...     print(prompt.replace(ALPACA_TEMPLATE.header, "<header>"), end="|")
    >>> show(format_instruction("Name a primary colour."))
    <header>
    <BLANKLINE>
    ### Instruction:
    Name a primary colour.
    <BLANKLINE>
    ### Response:
    |
    >>> show(format_instruction("Translate to French.", "Good morning"))
    <header>
    <BLANKLINE>
    ### Instruction:
    Translate to French.
    <BLANKLINE>
    ### Input:
    Good morning
    <BLANKLINE>
    ### Response:
    |

The response is appended right after the prompt (`prompt + output`), and training adds an
end-of-text token after it so the model learns to stop. Left out: tokenizing and masking
(`instructions.py`), and generating (`gptstudio.core.sampling`).
"""

from __future__ import annotations

from dataclasses import dataclass

from gptstudio.core.errors import ConfigError


@dataclass(frozen=True)
class PromptTemplate:
    """Fixed text around an instruction record's fields.

    prompt = header + instruction_part(instruction) [+ input_part(input) if input] + response_part
    """

    name: str
    header: str  # the text before the instruction
    instruction_part: str  # holds "{instruction}"
    input_part: str  # holds "{input}"; left out when the input is empty
    response_part: str  # ends the prompt: the response follows it

    def format(self, instruction: str, input: str = "") -> str:  # noqa: A002 - the field's name
        """The prompt for one record, ending where the response begins."""
        text = self.header + self.instruction_part.replace("{instruction}", instruction)
        if input:
            text += self.input_part.replace("{input}", input)
        return text + self.response_part


ALPACA_TEMPLATE = PromptTemplate(
    name="alpaca",
    header="Below is an instruction that describes a task. "
           "Write a response that appropriately completes the request.",
    instruction_part="\n\n### Instruction:\n{instruction}",
    input_part="\n\n### Input:\n{input}",
    response_part="\n\n### Response:\n",
)

PHI3_TEMPLATE = PromptTemplate(
    name="phi3",
    header="<|user|>\n",
    instruction_part="{instruction}",
    input_part="\n{input}",
    response_part="\n<|assistant|>\n",
)

TEMPLATES: dict[str, PromptTemplate] = {t.name: t for t in (ALPACA_TEMPLATE, PHI3_TEMPLATE)}


def get_template(name: str) -> PromptTemplate:
    """The template called `name` ("alpaca", "phi3"); ConfigError naming the choices."""
    try:
        return TEMPLATES[name]
    except KeyError:
        raise ConfigError(f"Unknown prompt template {name!r}; choose one of "
                          f"{', '.join(TEMPLATES)}.") from None


def format_instruction(instruction: str, input: str = "",  # noqa: A002 - the field's name
                       template: PromptTemplate = ALPACA_TEMPLATE) -> str:
    """The prompt for an instruction (and optional input), ending with "### Response:\\n"
    for the default Alpaca template; the model's answer continues it."""
    return template.format(instruction, input)
