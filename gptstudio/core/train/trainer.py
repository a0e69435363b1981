"""The training loop, as a generator of events.

One optimizer step:
1. set the learning rate from the schedule (scaled if the peak was changed mid-run);
2. for each of `grad_accum` micro-batches: forward (under bf16 autocast if chosen), divide the
   loss by grad_accum and backward, so the summed gradients are those of one big batch;
3. measure the global gradient norm and clip it to `grad_clip`;
4. if the loss or the norm is NaN/inf, *skip*: no optimizer step (one non-finite AdamW update
   would poison the weights and Adam's moments for good), the gradients are dropped; after
   `max_nonfinite` such steps in a row the run fails with a clear message;
5. otherwise `optimizer.step()`; then the hooks run and a `StepEvent` is yielded.
What a step learns from and how it is scored are the run's `TrainTask` (task.py): a batch source
and a loss function (pretraining: random windows of the token stream, `forward(x, y).loss`;
fine-tunes bring their own), and the evaluator. Every `eval_interval` steps: an `EvalEvent` (and
any events the evaluator adds, e.g. a classifier's accuracy); every `sample_interval`: a
`SampleEvent`; every `checkpoint_interval` (with a run folder): a checkpoint. A new run with a
run folder also saves step 0 before its first step (and evaluates then if its task asks), so a
run killed early can still be resumed. Before each step and between micro-batches the
`TrainControl` is asked whether to pause or stop, so a stop is never half a step. A run ends
with a checkpoint of its last step, unless `control.stop(save=False)` asked to end without it.
Requests from other threads (a checkpoint now, weight snapshots, attention maps) are answered
after each step and while paused, by `serving.RequestServer`.

Exact resume (a checkpoint holds everything as of the last completed step) is the trainer's
`CheckpointingMixin` (checkpointing.py).

Devices: the Trainer puts the model on `config.device` (`placement.py`), with that device's
precision, compile and batch-copy policy (`device.py`); an out-of-memory error becomes a
TrainingError saying what to change, the last checkpoint left intact.
Distributed training (torchrun, `distributed.py`): `rank` and `world_size` select per-rank data
seeds; the model is wrapped in DDP when a process group runs; gradient sync is skipped on all but
the last micro-batch; evaluation losses are averaged over the ranks; a stop asked on one rank
stops all at the same step; only rank 0 writes metrics, samples and checkpoints, and the ranks
wait for its checkpoints (a barrier). Nothing here is global. Left out: the pieces this uses
(schedule, optimizer, evaluation, precision, checkpoint, checkpointing, reporting, stepping (one
optimizer step: steps 1-4 above), task, run and serving modules).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from gptstudio.core.errors import TrainingError
from gptstudio.core.train.checkpoint_load import LoadedCheckpoint
from gptstudio.core.train.checkpointing import CheckpointingMixin
from gptstudio.core.train.config import TrainConfig
from gptstudio.core.train.control import TrainControl
from gptstudio.core.train.device import device_failure_message, empty_cache
from gptstudio.core.train.distributed import any_rank, barrier, rank_and_world_size
from gptstudio.core.train.events import (
    StatusEvent,
    StepEvent,
    TrainEvent,
    WarningEvent,
)
from gptstudio.core.train.optimizer import build_optimizer
from gptstudio.core.train.placement import place_for_training
from gptstudio.core.train.reporting import ReportingMixin
from gptstudio.core.train.samples import check_sample_prompt
from gptstudio.core.train.schedule import learning_rate_at
from gptstudio.core.train.serving import RequestServer
from gptstudio.core.train.state import DataPosition
from gptstudio.core.train.stepping import Hook, StepMixin
from gptstudio.core.train.task import TrainTask, language_model_task

if TYPE_CHECKING:
    from gptstudio.core.tokenizers import Tokenizer
    from gptstudio.core.train.run import Run
    from gptstudio.core.train.run_lock import RunLock

EVAL_SEED_OFFSET = 1_000_003  # evaluation batches never coincide with the training stream


class Trainer(StepMixin, CheckpointingMixin, ReportingMixin):
    """Trains `model` on `train_tokens`, or on a `task`'s batches (then the tokens are None);
    iterate `events()` to run it (see the module docstring).

    `start_state`: a `LoadedCheckpoint` (or its `train_state`) to resume from; its weights must
    already be in `model` (`load_checkpoint(path, model)` does that). `control` pauses, stops and
    re-tunes the run and carries requests from other threads (`serving.py` answers them).
    `hooks` are called as `hook(model, step)` after every step, in the training thread, without
    gradients, with the training RNG set aside (a hook can't change the run's randomness).
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Tokenizer,
        train_tokens: np.ndarray | None,
        val_tokens: np.ndarray | None,
        config: TrainConfig,
        *,
        run: Run | None = None,
        control: TrainControl | None = None,
        hooks: Sequence[Hook] = (),
        start_state: LoadedCheckpoint | dict[str, Any] | None = None,
        rank: int | None = None,
        world_size: int | None = None,
        task: TrainTask | None = None,
    ) -> None:
        self.model = getattr(model, "module", model)  # unwrapped: what is saved and sampled
        self._train_model = model  # possibly DDP-wrapped: what is trained
        self.tokenizer = tokenizer
        self.config = config
        self.run = run
        self.control = control if control is not None else TrainControl()
        self.hooks = tuple(hooks)
        self.rank, self.world_size = rank_and_world_size(rank, world_size)
        # The device and its policy (precision, compile, batch copies), and DDP: placement.py.
        self.policy, self._train_model = place_for_training(model, config,
                                                            world_size=self.world_size)
        self.device = self.policy.device
        self.block_size = int(self.model.config.block_size)
        self.precision, self.compiled = self.policy.precision, self.policy.compile
        self._autocast = self.policy.autocast
        self._scaler = self.policy.make_grad_scaler()  # fp16 only
        self.optimizer = build_optimizer(
            self.model, learning_rate=config.learning_rate, weight_decay=config.weight_decay,
            betas=(config.beta1, config.beta2),
            flat=self._train_model is self.model,  # DDP keeps gradients in buckets of its own
        )
        if task is None:
            if train_tokens is None or val_tokens is None:
                raise TrainingError("A Trainer needs train and val tokens, or a task.")
            # Each rank draws its own windows; the checkpointed position is rank 0's.
            task = language_model_task(
                tokenizer, train_tokens, val_tokens, block_size=self.block_size,
                batch_size=config.batch_size, eval_iters=config.eval_iters,
                seed=config.seed + self.rank, eval_seed=config.seed + EVAL_SEED_OFFSET + self.rank,
                autocast=self._autocast)
        self.task = task
        self.batcher = task.batches
        self.evaluator = task.evaluator
        if config.sample_interval and self.rank == 0:
            check_sample_prompt(tokenizer, config.sample_prompt)

        self.step = 0
        self.tokens_seen = 0
        self.elapsed = 0.0  # seconds spent in training steps (not pauses, evals or samples)
        self.best_val_loss: float | None = None
        self.peak_lr_override: float | None = None  # set through TrainControl.set_learning_rate
        self._start_rng: torch.Tensor | None = None
        self._start_cuda_rng: torch.Tensor | None = None
        self._compile_failed = False
        self._started = False
        self._saved_step: int | None = None  # step of the last checkpoint written or loaded
        self._saved_path: str | None = None
        self._last_eval: tuple[int, float] | None = None  # (step, val loss) of the latest eval
        self._resumed = start_state is not None
        self.writer_lock: RunLock | None = None  # given by holds_run_lock, back when events() end
        if start_state is not None:
            self._restore(start_state)
        saves = run is not None and self.rank == 0  # only rank 0 writes checkpoints
        self.serving = RequestServer(self.model, tokenizer, self.control, emit=self._emit,
                                     save=self.save_checkpoint if saves else None)

    @property
    def peak_lr(self) -> float:
        """The schedule's peak in use: the configured one, or the one set mid-run."""
        return self.config.learning_rate if self.peak_lr_override is None else \
            self.peak_lr_override

    def learning_rate(self, step: int) -> float:
        """The learning rate of step `step` (0-based), with the current peak."""
        cfg = self.config
        scale = self.peak_lr / cfg.learning_rate  # the floor follows the peak
        return learning_rate_at(step, peak_lr=self.peak_lr, min_lr=cfg.min_lr * scale,
                                warmup_steps=cfg.warmup_steps, decay_steps=cfg.decay_steps)

    # --- the loop ---------------------------------------------------------------------------

    def events(self) -> Iterator[TrainEvent]:
        """Run training to `max_steps` (or a stop), yielding events as they happen.

        When paused, a `StatusEvent("paused")` is yielded and the *next* `next()` blocks until
        `control.resume()` or `stop()` (so resume from another thread, or before asking for the
        next event); a request made meanwhile is answered (its events are yielded) and the
        next `next()` blocks again. The last event is a "finished" or "stopped" status. Raises
        TrainingError after `max_nonfinite` non-finite steps in a row (a "failed" StatusEvent
        comes first); other errors propagate after a "failed" status. A Trainer runs once: make
        a new one (from a checkpoint) to train again.
        """
        if self._started:
            raise TrainingError("This Trainer has already run; make a new one to train again.")
        self._started = True
        try:
            yield from self._events()
        except TrainingError:
            raise
        except Exception as exc:
            message = device_failure_message(  # out of memory, or an op the device lacks
                exc, self.device, step=self.step, batch_size=self.config.batch_size,
                grad_accum=self.config.grad_accum, block_size=self.block_size,
                checkpoint=self._saved_path)
            if message is not None:
                self.optimizer.zero_grad(set_to_none=True)
                empty_cache(self.device)
                self._log(StatusEvent("failed", message, self.step))
                raise TrainingError(message) from exc
            self._log(StatusEvent("failed", f"Training failed: {exc}", self.step))
            raise
        finally:  # the run folder's writer lock, if the preparation took one (run_lock.py)
            self._train_model = self.model  # and a DDP wrapper dropped: for a clean shutdown
            if self.writer_lock is not None:
                self.writer_lock.release()

    def _events(self) -> Iterator[TrainEvent]:
        cfg = self.config
        if self._start_rng is None:
            torch.manual_seed(cfg.seed + self.rank)  # dropout's stream; data has its own
        else:
            torch.set_rng_state(self._start_rng)
            if self._start_cuda_rng is not None and self.device.type == "cuda":
                torch.cuda.set_rng_state(self._start_cuda_rng, self.device)  # GPU dropout
        self.policy.apply_backend_settings()
        self._train_model.train()
        forward = torch.compile(self._train_model) if self.compiled else self._train_model
        verb = "Resuming" if self._resumed else "Starting"
        yield self._emit(StatusEvent("running", f"{verb} training at step {self.step} of "
                                                f"{cfg.max_steps} ({self.precision}"
                                                f"{', compiled' if self.compiled else ''} on "
                                                f"{self.policy.label}).", self.step))
        for message in cfg.warnings():  # e.g. a warmup longer than the run
            yield self._emit(WarningEvent(self.step, message))
        if not self._resumed:
            # Step 0, saved after seeding: a run killed before its first scheduled checkpoint
            # resumes from here exactly as if it had never stopped.
            yield from self._checkpoint()
            barrier()  # the other ranks wait for rank 0's checkpoint
            if self.task.evaluate_at_start:  # a fine-tune's "before" figures
                yield from self._evaluation()
        nonfinite_in_row, avg_step_time = 0, None
        while self.step < cfg.max_steps:
            while self.control.paused:
                yield from self.serving.pause(self.step)
            if any_rank(self.control.stopped, self.device):  # every rank stops at one step
                break
            position = DataPosition.capture(self.batcher)
            result = yield from self._one_step(forward)
            if result is None:  # this step never happened: put data and RNG back
                position.restore(self.batcher)
                if self._compile_failed and forward is not self._train_model:
                    forward = self._train_model  # go on in eager mode
                    continue
                break  # stopped between micro-batches
            self.step += 1
            self.tokens_seen += result.tokens * self.world_size
            self.elapsed += result.seconds
            avg_step_time = result.seconds if avg_step_time is None else \
                0.9 * avg_step_time + 0.1 * result.seconds
            nonfinite_in_row = 0 if result.applied or result.overflow else nonfinite_in_row + 1
            if not result.applied and not result.overflow:
                yield self._emit(WarningEvent(self.step, (
                    f"Step {self.step} was skipped: the loss ({result.loss:.4g}) or the gradient "
                    f"norm ({result.grad_norm:.4g}) was not finite, so no weight was changed.")))
            self._run_hooks()
            yield self._emit(StepEvent(
                step=self.step, loss=result.loss, lr=result.lr, grad_norm=result.grad_norm,
                tokens_per_sec=result.tokens * self.world_size / max(result.seconds, 1e-9),
                tokens_seen=self.tokens_seen, elapsed=self.elapsed,
                eta=(cfg.max_steps - self.step) * avg_step_time, max_steps=cfg.max_steps,
                step_time=result.seconds, skipped=not result.applied,
            ))
            if nonfinite_in_row >= cfg.max_nonfinite:
                yield from self._fail(nonfinite_in_row)
            if cfg.eval_interval and self.step % cfg.eval_interval == 0:
                yield from self._evaluation()
            if cfg.sample_interval and self.step % cfg.sample_interval == 0 and self.rank == 0:
                yield self._emit(self.sample())
            due = cfg.checkpoint_interval > 0 and self.step % cfg.checkpoint_interval == 0
            yield from self.serving.after_step(self.step, checkpoint_due=due)
            if due:
                barrier()
        yield from self._end(finished=self.step >= cfg.max_steps)

    def _end(self, finished: bool) -> Iterator[TrainEvent]:
        """The end of a run: final losses, checkpoint and answers, then the closing status."""
        # stop(save=False): the user throws away what was not saved, so end without writing or
        # computing anything more, even after the last step. Read once: from here on, a later
        # stop() changes nothing.
        discard = self.control.stopped and not self.control.save_on_stop
        if not discard:
            if finished and self._val_loss_now() is None:
                yield from self._evaluation()  # a finished run reports its final losses
            if self.step > 0 and self._saved_step != self.step:
                yield from self._checkpoint()
            # Answer what was asked during the last step; a checkpoint request is met above.
            yield from self.serving.serve(self.control.take_requests(checkpoint=False),
                                          self.step)
        barrier()  # every rank ends once rank 0's last checkpoint is written
        state = "finished" if finished else "stopped"
        message = f"Training {state} at step {self.step}."
        if discard and self._saved_step != self.step:
            message += " Not saved, as asked."
        if self._saved_path:
            message += f" Checkpoint: {self._saved_path}."  # the latest one on disk
        yield self._emit(StatusEvent(state, message, self.step))
