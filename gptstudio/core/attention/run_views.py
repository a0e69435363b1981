"""Attention of a run folder at a step: from one of its checkpoints, or from a recorded probe.

`run_attention(run_dir, prompt=..., step=...)` is what `gptstudio attention` shows:
- with a prompt: the model of the checkpoint at `step` (default: the latest) looks at it; a
  step without a checkpoint falls back on a record of that step made for the same prompt;
- without a prompt: the attention recorded during training at `step` (default: the latest).
Errors say what there is instead (the steps with checkpoints, the steps recorded) and what to do.
Left out: printing and pictures (`gptstudio.cli.attention`, `png.py`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from gptstudio.core.attention.record import list_records, load_record
from gptstudio.core.attention.view import TOP_K, PromptView, check_attention_model, \
    inspect_prompt
from gptstudio.core.errors import CheckpointError, ConfigError


@dataclass(frozen=True)
class RunAttention:
    """One view of a run: the prompt, where the weights came from, and which step."""

    view: PromptView
    prompt: str
    source: str  # "checkpoint" | "record"
    step: int
    path: Path  # the checkpoint folder or the record file
    run_dir: Path


def _steps(steps: list[int]) -> str:
    shown = [f"{s:,}" for s in steps[:12]]
    return ", ".join(shown) + (", …" if len(steps) > 12 else "") if steps else "none"


def run_attention(run_dir: str | os.PathLike, *, prompt: str | None = None,
                  step: int | None = None, top_k: int = TOP_K,
                  logit_lens: bool = False) -> RunAttention:
    """See the module docstring. ConfigError for an LSTM run, a step that holds nothing or a
    prompt the tokenizer cannot encode; CheckpointError for a run without checkpoints, or a
    damaged record."""
    from gptstudio.core.inspect import uninitialised_model
    from gptstudio.core.train import Run, load_checkpoint

    run = Run.open(run_dir)
    check_attention_model(run.model_config())
    records = list_records(run.attention_dir)
    if prompt is None:
        if not records:
            raise ConfigError(f"The run {run.path} has no attention recorded during training: "
                              "give a prompt to look at one of its checkpoints, or record a "
                              "probe prompt while it trains.")
        chosen = records[-1] if step is None else next((r for r in records if r.step == step),
                                                       None)
        if chosen is None:
            raise ConfigError(f"No attention was recorded at step {step:,}; recorded steps: "
                              f"{_steps([r.step for r in records])}.")
        record = load_record(chosen.path)
        return RunAttention(record.view, record.prompt, "record", record.step, chosen.path,
                            run.path)

    checkpoints = run.checkpoints()
    info = checkpoints[-1] if checkpoints and step is None else \
        next((c for c in checkpoints if c.step == step), None)
    if info is None:
        for candidate in (r for r in records if r.step == step):
            record = load_record(candidate.path)
            if record.prompt == prompt:
                return RunAttention(record.view, prompt, "record", record.step,
                                    candidate.path, run.path)
        if not checkpoints:
            raise CheckpointError(f"The run {run.path} has no checkpoint yet, so there is no "
                                  "model to look at; train it first.")
        recorded = f"; attention recorded at steps {_steps([r.step for r in records])}" \
            if records else ""
        raise ConfigError(f"The run has no checkpoint at step {step:,}; checkpoints: "
                          f"{_steps([c.step for c in checkpoints])}{recorded}.")
    tokenizer = run.load_tokenizer()
    model = uninitialised_model(run.model_config())  # no draws from the shared global RNG
    load_checkpoint(info.path, model, tokenizer=tokenizer)
    view = inspect_prompt(model.eval(), tokenizer, prompt, step=info.step, top_k=top_k,
                          logit_lens=logit_lens)
    return RunAttention(view, prompt, "checkpoint", info.step, Path(info.path), run.path)
