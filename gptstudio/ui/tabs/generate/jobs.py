"""The Generate tab's background jobs: engine calls wrapped as `job(model, tokenizer, progress,
cancel)` for `InferenceService.streams` (they run in its worker thread, never the GUI's).

Each returns plain data (frozen dataclasses of the engine, numpy copies); generation reports its
tokens on the way as `TokenBatch`es, at most every `BATCH_SECONDS` (the first token at once), so
the GUI thread handles a few updates a second however fast the model is. Left out: widgets,
and choosing the model (the service).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from gptstudio.core.chat import ChatPrompt, ChatTurn, chat_prompt, chat_stop_strings, clean_reply
from gptstudio.core.finetune.template import PromptTemplate
from gptstudio.core.generation import (
    GenerationResult, PromptTokens, branch, prompt_tokens, run_generation,
)
from gptstudio.core.next_token import NextTokenLogits, next_token_logits
from gptstudio.core.sampling import SamplingConfig, TokenEvent
from gptstudio.core.scoring import TextScore, score_text

BATCH_SECONDS = 1 / 30  # the tab draws each batch as it comes: ~30 updates a second

Progress = Callable[[Any], None]


@dataclass(frozen=True)
class TokenBatch:
    """Tokens a generation produced since the last batch, in order."""

    events: tuple[TokenEvent, ...]


@dataclass(frozen=True)
class ModelFacts:
    """What the tab says about the model a job ran on."""

    block_size: int
    vocab_size: int
    tokenizer_name: str
    eot_id: int | None


def facts_of(model: Any, tokenizer: Any) -> ModelFacts:
    return ModelFacts(model.config.block_size, tokenizer.vocab_size, tokenizer.name,
                      tokenizer.eot_id)


@dataclass(frozen=True)
class GenerationStarted:
    """Sent before the first token: the prompt as the model reads it, and the model's facts."""

    prompt: PromptTokens
    facts: ModelFacts


@dataclass(frozen=True)
class Generated:
    """A generation's result, with the logits of the token after it (for the chart)."""

    result: GenerationResult
    next_logits: NextTokenLogits | None
    facts: ModelFacts


def generation_job(prompt: str | Sequence[int], config: SamplingConfig, *,
                   first_events: Sequence[TokenEvent] = (), with_next: bool = True,
                   shown_prompt: Sequence[int] | None = None):
    """Generate after `prompt`, streaming batches; then (unless stopped) the next token's
    logits after everything, so the chart shows what would come next. `GenerationStarted`
    names `shown_prompt` when given (a branch: the prompt the text began with)."""
    def job(model: Any, tokenizer: Any, progress: Progress, cancel: threading.Event) -> Generated:
        facts = facts_of(model, tokenizer)
        started = shown_prompt if shown_prompt is not None else prompt
        progress(GenerationStarted(prompt_tokens(tokenizer, started, facts.block_size), facts))
        result = run_generation(
            model, tokenizer, prompt, config, cancel=cancel, batch_seconds=BATCH_SECONDS,
            on_tokens=lambda batch: progress(TokenBatch(tuple(batch))),
            first_events=first_events)
        logits = None
        if with_next and not cancel.is_set():
            ids = list(result.prompt.ids) + [e.id for e in result.events[len(first_events):]]
            logits = next_token_logits(model, tokenizer, ids)
        return Generated(result, logits, facts)
    return job


def branch_job(prompt_ids: Sequence[int], events: Sequence[TokenEvent], index: int,
               token_id: int, config: SamplingConfig):
    """Take `token_id` at `index` instead (`core.generation.branch`) and go on from there:
    the chosen token comes as the first batch, then the continuation."""
    def job(model: Any, tokenizer: Any, progress: Progress, cancel: threading.Event) -> Generated:
        start = branch(tokenizer, prompt_ids, events, index, token_id)
        progress(TokenBatch(start.events[index:]))
        go_on = generation_job(list(start.ids), config, first_events=start.events,
                               shown_prompt=list(prompt_ids))
        return go_on(model, tokenizer, progress, cancel)
    return job


@dataclass(frozen=True)
class PromptLogits:
    logits: NextTokenLogits
    facts: ModelFacts


def logits_job(prompt: str):
    """The next token's logits after `prompt` (one forward pass)."""
    def job(model: Any, tokenizer: Any, _progress: Progress,
            _cancel: threading.Event) -> PromptLogits:
        return PromptLogits(next_token_logits(model, tokenizer, prompt), facts_of(model, tokenizer))
    return job


@dataclass(frozen=True)
class Scored:
    score: TextScore
    facts: ModelFacts


def score_job(text: str):
    """Every token's loss in `text`."""
    def job(model: Any, tokenizer: Any, _progress: Progress, cancel: threading.Event) -> Scored:
        return Scored(score_text(model, tokenizer, text, cancel=cancel),
                      facts_of(model, tokenizer))
    return job


@dataclass(frozen=True)
class ChatStarted:
    """The prompt a chat reply is generated from (how much history it kept)."""

    prompt: ChatPrompt


@dataclass(frozen=True)
class ChatReply:
    reply: str
    result: GenerationResult
    prompt: ChatPrompt


def chat_job(history: Sequence[ChatTurn], message: str, config: SamplingConfig,
             template: PromptTemplate | None):
    """The model's reply to `message` after `history`, written with `template` (None: the
    plain conversation, for a model that was not instruction-tuned)."""
    def job(model: Any, tokenizer: Any, progress: Progress, cancel: threading.Event) -> ChatReply:
        prompt = chat_prompt(history, message, tokenizer, block_size=model.config.block_size,
                             reply_tokens=config.max_new_tokens, template=template)
        progress(ChatStarted(prompt))
        stops = tuple(dict.fromkeys(config.stop_strings + chat_stop_strings(template)))
        result = run_generation(
            model, tokenizer, prompt.text, replace(config, stop_strings=stops), cancel=cancel,
            batch_seconds=BATCH_SECONDS,
            on_tokens=lambda batch: progress(TokenBatch(tuple(batch))))
        return ChatReply(clean_reply(result.text), result, prompt)
    return job
