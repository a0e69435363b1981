"""What the Attention tab shows, in plain data (no Qt): a view with everything the widgets need,
and the timeline of attention recorded during training.

`summarize(view, task)` gathers, from the engine's functions, what one `PromptView` is drawn
with: each head's statistics, the grid's thumbnails, the tokens' labels, and the ideal pattern
of a synthetic task. For a typed prompt it runs in the inference worker (a long GPT-2 prompt
takes real work); for a recorded step (at most 128 tokens) in the GUI thread.
`RecordTimeline` knows the current run's recorded steps (from its run folder, plus the records
arriving live) and loads them with a small cache, so scrubbing back and forth reads each file
once. Left out: widgets (the tab and its parts), computing the views (core).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gptstudio.core.attention import (
    AttentionRecord, AttentionRecorded, GridSummary, HeadStats, PromptView, grid_summary,
    head_stats, ideal_mask, list_records, load_record, token_label,
)
from gptstudio.core.errors import ConfigError, GPTStudioError
from gptstudio.core.train import Run

CACHE_RECORDS = 64


@dataclass(frozen=True)
class Shown:
    """One view ready to draw; `caption` says where it comes from ("checkpoint at step 500")."""

    view: PromptView
    caption: str
    stats: tuple[HeadStats, ...]
    grid: GridSummary
    labels: tuple[str, ...]
    task: str | None = None
    ideal: np.ndarray | None = None
    ideal_note: str = ""  # why there is no ideal pattern although a task was chosen

    @property
    def n_layer(self) -> int:
        return self.view.maps.n_layer

    @property
    def n_head(self) -> int:
        return self.view.maps.n_head

    def stat(self, layer: int, head: int) -> HeadStats:
        return self.stats[layer * self.n_head + head]


def summarize(view: PromptView, caption: str, task: str | None = None) -> Shown:
    """Everything drawn of `view` (see the module docstring)."""
    ideal, note = None, ""
    if task:
        try:
            ideal = ideal_mask(task, view.maps.tokens, skip_first_line=view.cropped > 0)
        except ConfigError as exc:
            note = str(exc)
    return Shown(view=view, caption=caption, stats=tuple(head_stats(view.maps, ideal)),
                 grid=grid_summary(view.maps), labels=tuple(token_label(t)
                                                            for t in view.maps.tokens),
                 task=task, ideal=ideal, ideal_note=note)


class RecordTimeline:
    """The recorded steps of one run; `get(step)` loads one (CheckpointError if damaged)."""

    def __init__(self) -> None:
        self.run_dir: Path | None = None
        self.steps: list[int] = []
        self._paths: dict[int, Path] = {}
        self._cache: OrderedDict[int, AttentionRecord] = OrderedDict()

    def reset(self, run_dir: Path | None) -> None:
        """Follow `run_dir` (None: no run): list what its folder holds."""
        self.run_dir = run_dir
        self._cache.clear()
        infos = []
        if run_dir is not None and Run.exists(run_dir):
            try:
                infos = list_records(Run.open(run_dir).attention_dir)
            except GPTStudioError:  # a damaged run: the runs service says so when opening it
                infos = []
        self._paths = {i.step: i.path for i in infos}
        self.steps = sorted(self._paths)

    def add(self, event: AttentionRecorded) -> None:
        """A record made just now by the run being trained (resumed runs re-record steps)."""
        self.steps = [s for s in self.steps if s < event.step] + [event.step]
        self._paths = {s: p for s, p in self._paths.items() if s < event.step}
        self._paths[event.step] = Path(event.path)
        self._remember(event.step, event.record)

    def get(self, step: int) -> AttentionRecord:
        if step in self._cache:
            self._cache.move_to_end(step)
            return self._cache[step]
        record = load_record(self._paths[step])
        self._remember(step, record)
        return record

    def _remember(self, step: int, record: AttentionRecord) -> None:
        self._cache[step] = record
        while len(self._cache) > CACHE_RECORDS:
            self._cache.popitem(last=False)

