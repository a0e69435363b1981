"""Attention recorded during training: a Trainer hook, and the snapshot files in the run folder.

While a run trains, `AttentionRecorder` (a Trainer hook, `hook(model, step)`, run in the training
thread between steps) looks at one probe prompt every N steps and writes what it sees into the
run folder (`Run.attention_dir`), one file per step:

    attention/step-00000500.safetensors
      attention   float32 (n_layer, n_head, T, T)   every head's weights on the probe
      token_ids   int64 (T,)                        the probe's tokens
      next_ids    int64 (T, k), next_probs float32 (T, k)   the top next tokens at each position
      metadata    format "gptstudio-attention", version, step, prompt, tokens and next-token
                  pieces (JSON lists), n_prompt_tokens

Safetensors, never pickle: the files are plain arrays and strings, safe to open from anywhere.
Each file is written atomically, so a reader (the app replaying the run) never sees half of one.
An opened run replays them (`list_records`, `load_record`); a damaged file gives a
CheckpointError naming it.

Cost: `every=None` ("auto") starts at every AUTO_STEPS[0] steps and moves to a longer interval
whenever a recording (the median of the latest five) costs more than AUTO_BUDGET of the training
time it spans (the median step, measured between calls); a number is kept as given. The probe is cropped to RECORD_MAX_TOKENS tokens (files stay small).
A resumed run first deletes the records of the steps it will train again (they belong to the
future it discards). Only rank 0 records. Left out: computing the view (`view.py`).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from gptstudio.core.atomic import atomic_write_bytes
from gptstudio.core.errors import CheckpointError, ConfigError, GPTStudioError
from gptstudio.core.inspect import AttentionMaps
from gptstudio.core.attention.view import (
    TOP_K, NextTokens, PromptView, check_attention_model, encode_prompt, inspect_prompt,
)

if TYPE_CHECKING:
    from gptstudio.core.tokenizers import Tokenizer

FORMAT = "gptstudio-attention"
VERSION = 1
RECORD_MAX_TOKENS = 128
AUTO_STEPS = (10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000)
AUTO_BUDGET = 0.02  # the share of training time "auto" lets recording take
_PREFIX, _SUFFIX = "step-", ".safetensors"


@dataclass(frozen=True)
class AttentionRecord:
    """What was recorded at one step: the probe prompt and the model's view of it."""

    step: int
    prompt: str
    view: PromptView


@dataclass(frozen=True)
class AttentionRecorded:
    """A Trainer-side event (not logged to metrics.jsonl): a record was written to `path`."""

    step: int
    path: str
    record: AttentionRecord


@dataclass(frozen=True)
class RecordInfo:
    step: int
    path: Path


# --- files ---------------------------------------------------------------------------------------


def record_path(attention_dir: str | os.PathLike, step: int) -> Path:
    return Path(attention_dir) / f"{_PREFIX}{int(step):08d}{_SUFFIX}"


def list_records(attention_dir: str | os.PathLike) -> list[RecordInfo]:
    """The record files in a run's attention folder, by step ([] if there is none)."""
    folder = Path(attention_dir)
    if not folder.is_dir():
        return []
    out = []
    for path in folder.iterdir():
        name = path.name
        if name.startswith(_PREFIX) and name.endswith(_SUFFIX):
            digits = name[len(_PREFIX):-len(_SUFFIX)]
            if digits.isdigit():
                out.append(RecordInfo(int(digits), path))
    return sorted(out, key=lambda r: r.step)


def save_record(attention_dir: str | os.PathLike, record: AttentionRecord) -> Path:
    """Write `record` (atomically) as its step's file; returns the path."""
    from safetensors.numpy import save

    view, maps = record.view, record.view.maps
    tensors = {
        "attention": np.ascontiguousarray(np.stack(maps.weights), dtype=np.float32),
        "token_ids": np.asarray(maps.token_ids, dtype=np.int64),
        "next_ids": np.ascontiguousarray(view.next_tokens.ids, dtype=np.int64),
        "next_probs": np.ascontiguousarray(view.next_tokens.probs, dtype=np.float32),
    }
    metadata = {  # safetensors metadata values must be strings
        "format": FORMAT, "version": str(VERSION), "step": str(record.step),
        "prompt": record.prompt, "tokens": json.dumps(list(maps.tokens), ensure_ascii=False),
        "next_pieces": json.dumps([list(p) for p in view.next_tokens.pieces], ensure_ascii=False),
        "n_prompt_tokens": str(view.n_prompt_tokens),
    }
    folder = Path(attention_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = record_path(folder, record.step)
    atomic_write_bytes(path, save(tensors, metadata=metadata))
    return path


def load_record(path: str | os.PathLike) -> AttentionRecord:
    """Read one record file; CheckpointError saying which file is damaged and what to do."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    try:
        data = path.read_bytes()
        metadata = _header_metadata(data)
        if metadata.get("format") != FORMAT:
            raise ValueError("it is not a GPT Studio attention record")
        if int(metadata.get("version", "0")) > VERSION:
            raise CheckpointError(f"The attention record {path} was written by a newer GPT "
                                  "Studio; update it to read this file.")
        tensors = load(data)
        weights, token_ids = tensors["attention"], tensors["token_ids"]
        tokens = tuple(json.loads(metadata["tokens"]))
        pieces = tuple(tuple(p) for p in json.loads(metadata["next_pieces"]))
        next_ids, next_probs = tensors["next_ids"], tensors["next_probs"]
        T = len(tokens)
        if (weights.ndim != 4 or weights.shape[2:] != (T, T) or token_ids.shape != (T,)
                or next_ids.shape[0] != T or next_probs.shape != next_ids.shape
                or len(pieces) != T):
            raise ValueError("its arrays do not fit together")
        step = int(metadata["step"])
    except CheckpointError:
        raise
    except FileNotFoundError:
        raise CheckpointError(f"The attention record {path} is missing.") from None
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as exc:
        raise CheckpointError(f"The attention record {path} is damaged ({exc}); delete it, or "
                              "record it again by training the run.") from None
    maps = AttentionMaps(step=step, token_ids=tuple(int(i) for i in token_ids), tokens=tokens,
                         weights=tuple(np.array(w) for w in weights))
    view = PromptView(maps=maps, n_prompt_tokens=int(metadata.get("n_prompt_tokens", T)),
                      next_tokens=NextTokens(ids=next_ids, probs=next_probs, pieces=pieces))
    return AttentionRecord(step=step, prompt=metadata.get("prompt", ""), view=view)


def record_prompt(path: str | os.PathLike) -> str:
    """The probe prompt of a record file, reading only its header; CheckpointError if broken."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            size = int.from_bytes(f.read(8), "little")
            if not 0 < size < 100_000_000:
                raise ValueError("bad header size")
            return str(_header_metadata(f.read(size), offset=0, size=size).get("prompt", ""))
    except (OSError, ValueError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"The attention record {path} is damaged ({exc}); delete it, or "
                              "record it again by training the run.") from None


def _header_metadata(data: bytes, offset: int = 8, size: int | None = None) -> dict[str, str]:
    """The `__metadata__` of a safetensors file's JSON header."""
    if size is None:
        if len(data) < 8:
            raise ValueError("the file is too short")
        size = int.from_bytes(data[:8], "little")
    header = json.loads(data[offset:offset + size])
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict):
        raise ValueError("it has no GPT Studio metadata")
    return metadata


def check_probe(model_config: object, tokenizer: Tokenizer, prompt: str) -> None:
    """Raise (ConfigError, TokenizerError) if `prompt` cannot be recorded for this model."""
    check_attention_model(model_config)
    encode_prompt(tokenizer, prompt, RECORD_MAX_TOKENS)


def check_every(every: int | None) -> int | None:
    """None ("auto") or a whole number of steps >= 1."""
    if every is not None and (isinstance(every, bool) or not isinstance(every, int) or every < 1):
        raise ConfigError(f"Record attention every N steps with N a whole number >= 1 (or auto), "
                          f"not {every!r}.")
    return every


def default_probe(text: str, tokenizer: Tokenizer, max_tokens: int = 48) -> str:
    """A probe prompt from a corpus: its first line of 32 characters or more (else its first
    non-empty line), cut to `max_tokens` tokens, at a space where it can be; "" if none encodes.

    >>> from gptstudio.core.tokenizers import CharTokenizer
    >>> text = "The Fox\\n\\nOnce upon a time there was a fox.\\n"
    >>> default_probe(text, CharTokenizer.from_text(text), max_tokens=20)
    'Once upon a time'
    """
    lines = [line.strip() for line in text[:20_000].splitlines() if line.strip()]
    long_lines = [line for line in lines if len(line) >= 32]
    for line in (long_lines or lines)[:1]:
        try:
            ids = tokenizer.encode(line)
        except GPTStudioError:
            return ""
        if len(ids) <= max_tokens:
            return line
        prefix = tokenizer.decode(ids[:max_tokens])
        cut = prefix.rfind(" ")
        return prefix[:cut] if cut > len(prefix) // 2 else prefix
    return ""


# --- the hook ------------------------------------------------------------------------------------


class AttentionRecorder:
    """A Trainer hook recording `prompt`'s attention into `run_dir` (see the module docstring).

    `report(event)` (optional) gets an `AttentionRecorded` after each record, in the training
    thread, or once a `WarningEvent`-like message if the probe cannot be recorded (an LSTM, a
    prompt the tokenizer cannot encode): then the recorder stays silent, and training goes on.
    """

    def __init__(self, run_dir: str | os.PathLike, prompt: str, every: int | None = None, *,
                 report: Callable[[object], None] | None = None,
                 max_tokens: int = RECORD_MAX_TOKENS, budget: float = AUTO_BUDGET) -> None:
        self.run_dir = Path(run_dir)
        self.prompt = prompt
        self.auto = check_every(every) is None
        self.every = AUTO_STEPS[0] if every is None else every
        self.max_tokens = max_tokens
        self.budget = budget
        self.report = report
        self.problem: str | None = None
        self.recorded: list[int] = []
        self.seconds = 0.0  # spent recording, in all
        self._tokenizer = None
        self._attention_dir: Path | None = None
        self._gaps: deque[float] = deque(maxlen=21)  # seconds between calls: a step, mostly
        self._costs: deque[float] = deque(maxlen=5)  # seconds of the latest records
        self._last_call: float | None = None

    def __call__(self, model: nn.Module, step: int) -> None:
        started = time.perf_counter()
        if self._last_call is not None:
            self._gaps.append(started - self._last_call)
        try:
            if self.problem is None and (self._tokenizer is None or step % self.every == 0):
                self._record(model, step, first=self._tokenizer is None)
        finally:
            self._last_call = time.perf_counter()  # the next gap leaves this call out

    def _record(self, model: nn.Module, step: int, *, first: bool) -> None:
        if first and not self._start(model, step):
            return
        started = time.perf_counter()
        view = inspect_prompt(model, self._tokenizer, self.prompt, step=step, top_k=TOP_K,
                              max_tokens=self.max_tokens)
        record = AttentionRecord(step=step, prompt=self.prompt, view=view)
        path = save_record(self._attention_dir, record)
        cost = time.perf_counter() - started
        self.seconds += cost
        self.recorded.append(step)
        if not first:  # the first record also warms caches up: not a fair price
            self._costs.append(cost)
        if self.auto and self._gaps and self._costs:
            self._adapt(statistics.median(self._costs))  # one slow spell moves nothing
        if self.report is not None:
            self.report(AttentionRecorded(step=step, path=str(path), record=record))

    def _start(self, model: nn.Module, step: int) -> bool:
        """First call: check the probe, find the folder, drop records of a discarded future."""
        from gptstudio.core.train.events import WarningEvent
        from gptstudio.core.train.run import Run

        if torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_rank() != 0:
            self.problem = "not rank 0"
            return False
        try:
            run = Run.open(self.run_dir)
            tokenizer = run.load_tokenizer()
            check_probe(model.config, tokenizer, self.prompt)
        except GPTStudioError as exc:
            self.problem = f"Attention is not recorded: {exc}"
            if self.report is not None:
                self.report(WarningEvent(step, self.problem))
            return False
        self._tokenizer, self._attention_dir = tokenizer, run.attention_dir
        for info in list_records(self._attention_dir):
            if info.step >= step:
                info.path.unlink(missing_ok=True)
        return True

    def _adapt(self, cost: float) -> None:
        """Auto: the shortest interval (never shorter than now) that keeps within budget."""
        step_seconds = statistics.median(self._gaps)
        for every in AUTO_STEPS:
            if every >= self.every and cost <= self.budget * every * step_seconds:
                self.every = every
                return
        self.every = AUTO_STEPS[-1]
