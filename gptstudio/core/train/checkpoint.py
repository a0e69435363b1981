"""Checkpoints: save and load a model and its training state, safely and atomically.

A checkpoint is a folder `step-00000500/` in a run's `checkpoints/` folder, holding
- `model.safetensors`: the weights. safetensors is a header plus raw numbers, so loading it can
  never run code. A tied tensor (LM head = token embedding) is stored once; `meta.json` lists its
  other names and loading ties it again.
- `state.pt`: what exact resume needs besides the weights: AdamW's moments, the step, the RNG
  state (a tensor), the data position (JSON text), the learning-rate peak. It is read with
  `torch.load(weights_only=True)`, which accepts tensors and plain containers only: a pickle that
  would run code is refused, never executed. (There is no fallback to `weights_only=False`.)
- `meta.json`: step, validation loss, the model config and the tokenizer's fingerprint, so a
  mismatch is reported by name instead of as a shape error deep inside PyTorch.

The folder is written under a temporary name and renamed into place only when complete, so a
process killed while saving leaves the previous checkpoints intact. After each save, all but the
last `keep_last` checkpoints are removed, except the one with the best validation loss.
Left out: loading, with its checks (`checkpoint_load.py`), deciding when to save (`trainer.py`)
and the run folder around it (`run.py`).
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from gptstudio.core.atomic import (
    atomic_write_bytes,
    atomic_write_text,
    clean_stale_temp_files,
    fsync_dir,
    temp_dir_name,
)
from gptstudio.core.errors import CheckpointError

__all__ = [
    "CheckpointInfo",
    "atomic_write_bytes",
    "best_checkpoint",
    "clean_stale_temp_files",
    "latest_checkpoint",
    "list_checkpoints",
    "prune_checkpoints",
    "read_checkpoint_info",
    "save_checkpoint",
]

FORMAT = "gptstudio-checkpoint"
VERSION = 1
WEIGHTS_FILE = "model.safetensors"
STATE_FILE = "state.pt"
META_FILE = "meta.json"
_NAME = re.compile(r"^step-(\d{8,})$")


@dataclass(frozen=True)
class CheckpointInfo:
    """What `meta.json` says about a checkpoint (cheap to read: no weights loaded)."""

    path: Path
    step: int
    val_loss: float | None
    model_config: dict[str, Any]
    tokenizer_fingerprint: str | None
    tokenizer_name: str | None
    created: str


def checkpoint_name(step: int) -> str:
    """The folder name of the checkpoint at `step`; sorts by step."""
    return f"step-{step:08d}"


def save_checkpoint(
    checkpoints_dir: str | os.PathLike,
    step: int,
    model: nn.Module,
    train_state: dict[str, Any],
    *,
    model_config: dict[str, Any],
    tokenizer_fingerprint: str | None = None,
    tokenizer_name: str | None = None,
    val_loss: float | None = None,
    keep_last: int = 3,
) -> CheckpointInfo:
    """Write the checkpoint of `step` atomically, then prune old ones; returns its info.

    `train_state` may hold tensors, numbers, strings, None and lists/tuples/dicts of them.
    """
    checkpoints_dir = Path(checkpoints_dir)
    checkpoints_dir.mkdir(parents=True, exist_ok=True)
    weights, aliases = _weights_to_save(model)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(step),
        "val_loss": val_loss if val_loss is not None and math.isfinite(val_loss) else None,
        "model_config": model_config,
        "tokenizer": {"fingerprint": tokenizer_fingerprint, "name": tokenizer_name},
        "aliases": aliases,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    state_buffer = io.BytesIO()
    torch.save(train_state, state_buffer)

    final = checkpoints_dir / checkpoint_name(step)
    tmp = checkpoints_dir / temp_dir_name(final.name)
    tmp.mkdir()
    try:
        atomic_write_bytes(tmp / WEIGHTS_FILE, safetensors.torch.save(weights))
        atomic_write_bytes(tmp / STATE_FILE, state_buffer.getvalue())
        atomic_write_text(tmp / META_FILE, json.dumps(meta, indent=1))  # last: marks complete
        fsync_dir(tmp)
        if final.exists():
            # Saving the same step again (e.g. right after a resume): move the old one aside
            # first, since a folder cannot be renamed over a non-empty one.
            old = checkpoints_dir / temp_dir_name(final.name, kind="delete")
            os.rename(final, old)
            os.rename(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
        fsync_dir(checkpoints_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    prune_checkpoints(checkpoints_dir, keep_last)
    return read_checkpoint_info(final)


def _weights_to_save(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The state dict with each shared tensor once, plus {dropped name: kept name}."""
    weights: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for name, tensor in model.state_dict().items():
        # Two names for the same memory (weight tying): keep the first, remember the other.
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape),
               tensor.stride())
        if key in seen and tensor.numel() > 0:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        tensor = tensor.detach().to("cpu").contiguous()
        if tensor.untyped_storage().nbytes() != tensor.numel() * tensor.element_size():
            tensor = tensor.clone()  # a view into a larger buffer (FlatAdamW): save its own copy
        weights[name] = tensor
    return weights, aliases


def read_checkpoint_info(path: str | os.PathLike) -> CheckpointInfo:
    """Read and check a checkpoint folder's `meta.json`; CheckpointError if it is not one."""
    path = Path(path)
    if not path.is_dir():
        kind = "a file" if path.is_file() else "missing"
        raise CheckpointError(
            f"{path} is {kind}, not a GPT Studio checkpoint folder (which holds "
            f"{WEIGHTS_FILE}, {STATE_FILE} and {META_FILE}). Files from other programs are not "
            "loaded, since a pickle file can run code."
        )
    try:
        meta = json.loads((path / META_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(
            f"{path} is not a GPT Studio checkpoint: {META_FILE} is missing."
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"The checkpoint {path} is damaged: {META_FILE}: {exc}.") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a GPT Studio checkpoint ({META_FILE} is foreign).")
    if not isinstance(meta.get("version"), int) or meta["version"] > VERSION:
        raise CheckpointError(
            f"The checkpoint {path} was written by a newer GPT Studio (format version "
            f"{meta.get('version')!r}); update GPT Studio to load it."
        )
    for name in (WEIGHTS_FILE, STATE_FILE):
        if not (path / name).is_file():
            raise CheckpointError(f"The checkpoint {path} is incomplete: {name} is missing.")
    tokenizer = meta.get("tokenizer") or {}
    try:
        return CheckpointInfo(
            path=path,
            step=int(meta["step"]),
            val_loss=None if meta.get("val_loss") is None else float(meta["val_loss"]),
            model_config=dict(meta["model_config"]),
            tokenizer_fingerprint=tokenizer.get("fingerprint"),
            tokenizer_name=tokenizer.get("name"),
            created=str(meta.get("created", "")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"The checkpoint {path} is damaged: {META_FILE}: {exc}.") from None


def list_checkpoints(checkpoints_dir: str | os.PathLike) -> list[CheckpointInfo]:
    """The complete checkpoints in a folder, oldest step first (damaged ones are skipped)."""
    checkpoints_dir = Path(checkpoints_dir)
    if not checkpoints_dir.is_dir():
        return []
    infos = []
    for entry in checkpoints_dir.iterdir():
        if _NAME.match(entry.name) and entry.is_dir():
            try:
                infos.append(read_checkpoint_info(entry))
            except CheckpointError:
                continue
    return sorted(infos, key=lambda info: info.step)


def latest_checkpoint(checkpoints_dir: str | os.PathLike) -> CheckpointInfo | None:
    """The checkpoint with the highest step, or None."""
    infos = list_checkpoints(checkpoints_dir)
    return infos[-1] if infos else None


def best_checkpoint(checkpoints_dir: str | os.PathLike) -> CheckpointInfo | None:
    """The checkpoint with the lowest validation loss (the later one on a tie), or None."""
    scored = [i for i in list_checkpoints(checkpoints_dir) if i.val_loss is not None]
    return min(scored, key=lambda i: (i.val_loss, -i.step)) if scored else None


def prune_checkpoints(checkpoints_dir: str | os.PathLike, keep_last: int) -> list[Path]:
    """Remove all but the last `keep_last` checkpoints and the best one; returns the removed."""
    infos = list_checkpoints(checkpoints_dir)
    best = best_checkpoint(checkpoints_dir)
    keep = {info.path for info in infos[-keep_last:]} if keep_last > 0 else set()
    if best is not None:
        keep.add(best.path)
    removed = []
    for info in infos:
        if info.path in keep:
            continue
        # Rename first, so a kill during the removal never leaves a half-deleted checkpoint
        # under a real name (the temp name is cleaned up later).
        doomed = info.path.with_name(temp_dir_name(info.path.name, kind="delete"))
        os.rename(info.path, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        removed.append(info.path)
    return removed
