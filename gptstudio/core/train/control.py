"""`TrainControl`: steer a training loop from another thread: pause, stop, re-tune, ask for data.

The trainer never gets interrupted; it *asks* its control between steps (and between the
micro-batches of a long accumulated step) whether to go on. That keeps the model consistent:
a step is either applied whole or not at all. Any thread may call the methods; all state sits
behind one `threading.Condition`, notified on every change, so a paused trainer sleeps until
something happens: no polling, no sleeping.

Stopping: `stop()` ends the run before its next step with a checkpoint of its last full step;
`stop(save=False)` ends it without that checkpoint (the app's "Discard" on closing the window):
what was saved before, the step-0 and scheduled checkpoints, stays. Until the trainer ends, the
latest call decides; a stop cannot be undone.

Requests: the model belongs to the training thread, so other threads ask for what they need and
the trainer serves it at its next chance (after the current step, or at once while paused):
- one-shot: `request_checkpoint()` (saved at a step boundary), `request_weights()` (a
  WeightsEvent), `request_attention(prompt)` (an AttentionEvent; a newer prompt replaces one
  not yet served). Asking twice before it is served gives one answer.
- periodic: `watch_weights(every)`, `watch_attention(prompt, every)`: after every `every`-th
  step (0 turns it off). Not served while paused: no step was made.
The trainer collects them with `take_requests`, which clears the one-shot ones.

Changing the learning rate mid-run: `set_learning_rate(lr)` sets a new *peak*. The schedule keeps
its shape (warmup, cosine, floor) and is scaled by lr / config.learning_rate from the next step
on, min_lr included. So setting the configured peak again restores the original schedule, and a
change during warmup still warms up. The new peak is saved in checkpoints, so a resumed run keeps
it. Left out: the loop (`trainer.py`) and how requests are served (`serving.py`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from gptstudio.core.errors import ConfigError
from gptstudio.core.train.config import check_learning_rate


@dataclass(frozen=True)
class Requests:
    """What the trainer should serve now; falsy when there is nothing to do."""

    checkpoint: bool = False
    weights: bool = False
    attention_prompts: tuple[str, ...] = ()  # one AttentionEvent each

    def __bool__(self) -> bool:
        return self.checkpoint or self.weights or bool(self.attention_prompts)


def _check_every(every: int) -> int:
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        raise ConfigError(f"A watch interval is a whole number of steps >= 0 (0 = off), "
                          f"not {every!r}.")
    return every


class TrainControl:
    """Thread-safe switches and requests read by the trainer between steps."""

    def __init__(self) -> None:
        # Guards every field below; notified on each change so that a waiting trainer wakes.
        self._changed = threading.Condition()
        self._paused = False
        self._stopped = False
        self._save_on_stop = True
        self._peak_lr: float | None = None
        self._checkpoint_requested = False
        self._weights_requested = False
        self._attention_prompt: str | None = None  # one-shot
        self._weights_every = 0
        self._attention_watch: tuple[str, int] = ("", 0)  # (prompt, every)

    # --- pause, resume, stop ------------------------------------------------------------------

    def pause(self) -> None:
        """Ask the trainer to pause before its next step (or micro-step)."""
        with self._changed:
            self._paused = True
            self._changed.notify_all()

    def resume(self) -> None:
        """Let a paused trainer go on."""
        with self._changed:
            self._paused = False
            self._changed.notify_all()

    def stop(self, save: bool = True) -> None:
        """Ask the trainer to finish before its next step; also ends a pause.

        With `save` it first writes a checkpoint of its last full step (if that one isn't saved
        yet); `save=False` finishes without it. A later call's `save` wins, until the trainer
        has ended.
        """
        with self._changed:
            self._stopped = True
            self._save_on_stop = bool(save)
            self._changed.notify_all()  # a paused trainer must wake up to see the stop

    @property
    def paused(self) -> bool:
        """True between `pause()` and `resume()` (unless stopped)."""
        with self._changed:
            return self._paused and not self._stopped

    @property
    def stopped(self) -> bool:
        """True once `stop()` was called; it cannot be undone."""
        with self._changed:
            return self._stopped

    @property
    def save_on_stop(self) -> bool:
        """Whether the trainer ends with a checkpoint: False after `stop(save=False)` only."""
        with self._changed:
            return self._save_on_stop

    # --- learning rate ------------------------------------------------------------------------

    def set_learning_rate(self, lr: float) -> None:
        """Use `lr` as the schedule's peak from the next step on (see the module docstring)."""
        lr = check_learning_rate(lr, "The learning rate")
        with self._changed:
            self._peak_lr = lr

    @property
    def learning_rate(self) -> float | None:
        """The peak set by `set_learning_rate`, or None if it was never called."""
        with self._changed:
            return self._peak_lr

    # --- requests -----------------------------------------------------------------------------

    def request_checkpoint(self) -> None:
        """Save a checkpoint at the next step boundary (now, if paused between steps)."""
        with self._changed:
            self._checkpoint_requested = True
            self._changed.notify_all()

    def request_weights(self) -> None:
        """A WeightsEvent at the next chance (after this step, or now if paused)."""
        with self._changed:
            self._weights_requested = True
            self._changed.notify_all()

    def request_attention(self, prompt: str) -> None:
        """An AttentionEvent on `prompt` at the next chance (replaces one not yet served)."""
        with self._changed:
            self._attention_prompt = str(prompt)
            self._changed.notify_all()

    def watch_weights(self, every: int) -> None:
        """A WeightsEvent after every `every`-th step; 0 turns it off."""
        every = _check_every(every)
        with self._changed:
            self._weights_every = every

    def watch_attention(self, prompt: str, every: int) -> None:
        """An AttentionEvent on `prompt` after every `every`-th step; 0 or "" turns it off."""
        every = _check_every(every)
        with self._changed:
            self._attention_watch = (str(prompt), every)

    # --- for the trainer ----------------------------------------------------------------------

    def take_requests(self, *, step: int | None = None, checkpoint: bool = True) -> Requests:
        """The requests to serve now; the one-shot ones taken are cleared.

        `step`: the step that has just been completed, to add the periodic watches due after it
        (None while paused: nothing periodic). `checkpoint=False` (paused inside an accumulated
        step, where the state is not a step's) leaves a checkpoint request pending.
        """
        with self._changed:
            take_checkpoint = checkpoint and self._checkpoint_requested
            weights = self._weights_requested
            prompts = [self._attention_prompt] if self._attention_prompt is not None else []
            if take_checkpoint:
                self._checkpoint_requested = False
            self._weights_requested, self._attention_prompt = False, None
            if step is not None:
                weights = weights or (self._weights_every > 0 and step % self._weights_every == 0)
                prompt, every = self._attention_watch
                if prompt and every > 0 and step % every == 0 and prompt not in prompts:
                    prompts.append(prompt)
            return Requests(take_checkpoint, weights, tuple(prompts))

    def wait_while_paused(self, timeout: float | None = None, *, checkpoint: bool = True) -> bool:
        """Block while paused, until resumed, stopped or asked for something to serve.

        A checkpoint request counts only with `checkpoint=True` (see `take_requests`). Returns
        True unless the timeout ran out first; the caller then looks at `paused` and
        `take_requests()`.
        """
        with self._changed:
            return self._changed.wait_for(lambda: self._awake(checkpoint), timeout)

    def _awake(self, checkpoint: bool) -> bool:
        """Whether a paused trainer has something to do (called with the lock held)."""
        if not self._paused or self._stopped:
            return True
        return ((checkpoint and self._checkpoint_requested) or self._weights_requested
                or self._attention_prompt is not None)
