"""What the trainer does between steps for other threads: checkpoints on request, weight
snapshots, attention maps, and the pause that waits for them.

The model belongs to the training thread, so no other thread touches it: they ask through the
`TrainControl` (`request_checkpoint`, `request_weights`, `request_attention`, `watch_weights`,
`watch_attention`) and the trainer's `RequestServer` answers, in the training thread:
- after each step, after its eval and sample: a CheckpointEvent (one save when a scheduled
  checkpoint falls on the same step), then a WeightsEvent, then one AttentionEvent per prompt;
- while paused: the pause wakes on a request, serves it, yields the answer and waits again,
  until resume or stop. Paused *between the micro-batches* of a step, weights and attention are
  served (no weight has changed yet) but a checkpoint waits for the end of the step.
Serving never changes the run: it runs without gradients, with the RNG set aside, and gives the
model back in train mode. A request that cannot be answered (attention on the LSTM or on a prompt
without tokens, a checkpoint without a run folder) yields a WarningEvent instead, once per
distinct message. Weights and Attention events are not written to metrics.jsonl (big arrays).

Left out: the requests' bookkeeping (`control.py`), computing the payloads
(`gptstudio.core.inspect`), the loop and how a checkpoint is written (`trainer.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import torch
from torch import nn

from gptstudio.core.errors import ConfigError, TokenizerError
from gptstudio.core.inspect import attention_maps, snapshot_weights
from gptstudio.core.train.control import Requests, TrainControl
from gptstudio.core.train.events import (
    AttentionEvent,
    CheckpointEvent,
    StatusEvent,
    TrainEvent,
    WarningEvent,
    WeightsEvent,
)

if TYPE_CHECKING:
    from gptstudio.core.tokenizers import Tokenizer


class RequestServer:
    """Answers one trainer's control requests, and holds its pauses (see the module docstring).

    `emit(event)` logs an event to the run and returns it; `save()` writes a checkpoint of the
    trainer's current step and returns its event, or is None where the trainer saves none (no
    run folder, or not rank 0). Each method takes the `step` the model is at.
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Tokenizer,
        control: TrainControl,
        *,
        emit: Callable[[TrainEvent], TrainEvent],
        save: Callable[[], CheckpointEvent] | None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.control = control
        self._emit = emit
        self._save = save
        self._warned: set[str] = set()  # a request that keeps failing warns only once

    def pause(self, step: int, *, at_step_boundary: bool = True) -> Iterator[TrainEvent]:
        """Yield "paused", then serve requests until resumed or stopped ("running" on resume).

        Inside an accumulated step (`at_step_boundary=False`) the optimizer and data state are
        half a step ahead of the weights, so a checkpoint request waits for the step's end.
        """
        yield self._emit(StatusEvent("paused", f"Paused at step {step}.", step))
        while True:
            self.control.wait_while_paused(checkpoint=at_step_boundary)
            if not self.control.paused:
                break  # resumed, or stopped (a stop ends a pause)
            yield from self.serve(self.control.take_requests(checkpoint=at_step_boundary), step)
        if not self.control.stopped:
            yield self._emit(StatusEvent("running", f"Resumed at step {step}.", step))

    def after_step(self, step: int, *, checkpoint_due: bool) -> Iterator[TrainEvent]:
        """What follows a step: its checkpoint, if scheduled or asked for, then the answers."""
        requests = self.control.take_requests(step=step)
        if checkpoint_due and not requests.checkpoint and self._save is not None:
            yield self._save()  # a checkpoint asked for stands in for the scheduled one
        yield from self.serve(requests, step)

    def serve(self, requests: Requests, step: int) -> Iterator[TrainEvent]:
        """Answer `requests`: checkpoint, then weights, then attention, one event each."""
        if requests.checkpoint:
            if self._save is not None:
                yield self._save()
            else:
                yield from self._warn_once(step, "No checkpoint was saved: only a trainer with a "
                                                 "run folder (rank 0) saves checkpoints.")
        if not (requests.weights or requests.attention_prompts):
            return
        answers: list[TrainEvent] = []
        # Computed with the RNG set aside and yielded after: whatever the consumer does while
        # this generator is suspended must not happen inside the fork.
        with torch.random.fork_rng(devices=[]):
            if requests.weights:
                # A fine-tune's model shows its plain GPT (LoRA merged, no head): what a
                # snapshot rebuilds and the app samples from.
                view = getattr(self.model, "language_model", None)
                model = view() if view is not None else self.model
                answers.append(WeightsEvent(step, snapshot_weights(model, step)))
            for prompt in requests.attention_prompts:
                try:
                    maps = attention_maps(self.model, self.tokenizer, prompt, step=step)
                except (ConfigError, TokenizerError) as exc:
                    answers.extend(self._warn_once(step, f"No attention maps: {exc}"))
                else:
                    answers.append(AttentionEvent(step, maps))
        yield from answers  # attention_maps gave the model back in train mode

    def _warn_once(self, step: int, message: str) -> Iterator[TrainEvent]:
        if message not in self._warned:
            self._warned.add(message)
            yield self._emit(WarningEvent(step, message))
