"""Loading a checkpoint: checked against the model and tokenizer, falling back past damage.

`load_checkpoint` reads a checkpoint written by `checkpoint.py`: the config and the tokenizer's
fingerprint are compared first (a mismatch is named, not a shape error deep in PyTorch), the
weights are read with safetensors (no code can run) and must be finite, the training state with
`torch.load(weights_only=True)`. Given a run folder, it loads the newest checkpoint that is
intact and says which newer ones it passed over and why.
Left out: writing and listing checkpoints (`checkpoint.py`).
"""

from __future__ import annotations

import json
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from torch import nn

from gptstudio.core.errors import CheckpointError, ConfigError
from gptstudio.core.model.config import model_config_from_dict
from gptstudio.core.train.checkpoint import (
    _NAME,
    META_FILE,
    STATE_FILE,
    WEIGHTS_FILE,
    CheckpointInfo,
    read_checkpoint_info,
)


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A checkpoint whose weights are in the model; pass it as `Trainer(start_state=...)`."""

    info: CheckpointInfo
    train_state: dict[str, Any]
    # Newer checkpoints passed over because they are damaged: "step-00000400: why", newest first.
    skipped: tuple[str, ...] = ()

    @property
    def step(self) -> int:
        return self.info.step

    @property
    def note(self) -> str:
        """A sentence about the checkpoints passed over ("" when none was)."""
        if not self.skipped:
            return ""
        return (f"The newest checkpoint could not be used ({'; '.join(self.skipped)}), so step "
                f"{self.step:,} was loaded, the newest intact one.")


class _Damaged(CheckpointError):
    """A checkpoint that cannot be read as it is (not a mismatch with the model asked for)."""


def resolve_checkpoint_path(path: str | os.PathLike) -> Path:
    """A checkpoint folder from a checkpoint, a `checkpoints/` folder or a run folder."""
    return _candidates(Path(path))[0]


def _candidates(path: Path) -> list[Path]:
    """The checkpoint `path` names: itself, or a run's / `checkpoints/` folder's checkpoints
    newest first (those whose meta.json cannot be read included, so that they are reported)."""
    from gptstudio.core.train.run import CHECKPOINTS_DIR, Run  # run.py names a run's parts

    own_files = (META_FILE, WEIGHTS_FILE, STATE_FILE)
    one = _NAME.match(path.name) or any((path / f).exists() for f in own_files)
    if not path.is_dir() or (one and not Run.exists(path)):  # extra files leave a run a run
        return [path]  # meant as one checkpoint: read_checkpoint_info says what is wrong with it

    for folder in (path / CHECKPOINTS_DIR, path):
        named = [e for e in folder.iterdir() if _NAME.match(e.name) and e.is_dir()] \
            if folder.is_dir() else []
        if named:
            return sorted(named, key=lambda e: int(_NAME.match(e.name).group(1)), reverse=True)
    raise CheckpointError(f"{path} holds no complete checkpoint.")


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module | None = None,
    *,
    model_config: dict[str, Any] | None = None,
    tokenizer: Any | None = None,
) -> LoadedCheckpoint:
    """Check a checkpoint against the model config and tokenizer, load its weights into `model`
    (if given) and its training state; every failure is a CheckpointError that says why.

    `path` is a checkpoint folder, or a run / `checkpoints/` folder: its latest checkpoint, or
    the newest intact one when newer ones are damaged (`LoadedCheckpoint.skipped` and `.note`
    say which and why). Weights that are not finite are refused like a damaged file.
    `model_config` defaults to `model.config.to_dict()` when the model has one.
    """
    candidates, skipped = _candidates(Path(path)), []
    for candidate in candidates:
        try:
            loaded = _load_one(candidate, model, model_config=model_config, tokenizer=tokenizer)
        except _Damaged as exc:
            if len(candidates) == 1:
                raise
            skipped.append(f"{candidate.name}: {exc}")
            continue
        return LoadedCheckpoint(loaded.info, loaded.train_state, tuple(skipped))
    raise CheckpointError(f"Every checkpoint of {path} is damaged: {'; '.join(skipped)}")


def _load_one(path: Path, model: nn.Module | None, *, model_config: dict[str, Any] | None,
              tokenizer: Any | None) -> LoadedCheckpoint:
    try:
        info = read_checkpoint_info(path)
    except CheckpointError as exc:
        raise _Damaged(str(exc)) from None
    if model_config is None and model is not None and hasattr(model, "config"):
        model_config = model.config.to_dict()
    if model_config is not None:
        _check_same_model_config(info, model_config)
    if tokenizer is not None:
        _check_same_tokenizer(info, tokenizer)
    if model is not None:
        _load_weights(info, model)
    try:
        train_state = torch.load(info.path / STATE_FILE, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # torch's own message suggests weights_only=False, which would run the file's code.
        raise _Damaged(
            f"Refused to load {info.path / STATE_FILE}: it is not a plain GPT Studio training "
            "state but a pickle asking for more than tensors and plain values, which could run "
            "code. It is never loaded that way; use a checkpoint GPT Studio wrote."
        ) from None
    except Exception:  # noqa: BLE001 - a truncated or corrupt file becomes one clear error
        raise _Damaged(
            f"{info.path / STATE_FILE} is damaged (truncated or corrupt: it cannot be read as "
            "a training state); an earlier checkpoint can be used instead."
        ) from None
    if not isinstance(train_state, dict):
        raise _Damaged(f"{info.path / STATE_FILE} does not hold a training state.")
    return LoadedCheckpoint(info=info, train_state=train_state)


def _check_same_model_config(info: CheckpointInfo, model_config: dict[str, Any]) -> None:
    # Compared with their defaults filled in: a config saved before a field existed (e.g.
    # `activation`) means that field's default.
    saved, wanted = _with_defaults(info.model_config), _with_defaults(model_config)
    diffs = [
        f"{key}={saved.get(key)!r} in the checkpoint but {wanted.get(key)!r} here"
        for key in sorted(set(saved) | set(wanted))
        if saved.get(key) != wanted.get(key) and key != "dropout"  # dropout may change freely
    ]
    if diffs:
        raise CheckpointError(
            f"The checkpoint {info.path.name} was saved for a different model: "
            + "; ".join(diffs) + "."
        )


def _with_defaults(config: dict[str, Any]) -> dict[str, Any]:
    try:
        return model_config_from_dict(config).to_dict()
    except ConfigError:
        return config  # not a valid config: compared as it is, so the diff names the problem


def _check_same_tokenizer(info: CheckpointInfo, tokenizer: Any) -> None:
    fingerprint = tokenizer.fingerprint()
    if info.tokenizer_fingerprint is not None and info.tokenizer_fingerprint != fingerprint:
        raise CheckpointError(
            f"The checkpoint {info.path.name} was trained with a different tokenizer "
            f"({info.tokenizer_name or 'unnamed'}, fingerprint {info.tokenizer_fingerprint[:12]}) "
            f"than the one given ({getattr(tokenizer, 'name', 'unnamed')}, fingerprint "
            f"{fingerprint[:12]}): its token ids would mean different text."
        )


def _load_weights(info: CheckpointInfo, model: nn.Module) -> None:
    weights_path = info.path / WEIGHTS_FILE
    try:
        weights = safetensors.torch.load_file(weights_path, device="cpu")
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise _Damaged(f"The weights file {weights_path} is damaged: {exc}") from None
    not_finite = [name for name, w in weights.items()
                  if w.is_floating_point() and not bool(torch.isfinite(w).all())]
    if not_finite:
        raise _Damaged(f"The weights in {info.path.name} are not finite (NaN or infinity in "
                       f"{', '.join(not_finite[:3])}): this checkpoint cannot be used; train "
                       "from an earlier one or start again with a lower learning rate.")
    meta = json.loads((info.path / META_FILE).read_text(encoding="utf-8"))
    for alias, name in (meta.get("aliases") or {}).items():
        if name in weights:
            weights[alias] = weights[name]  # re-tie: load_state_dict copies into both names
    expected = model.state_dict()
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    wrong_shape = sorted(
        f"{k} {tuple(weights[k].shape)} vs {tuple(expected[k].shape)}"
        for k in set(expected) & set(weights)
        if weights[k].shape != expected[k].shape
    )
    if missing or unexpected or wrong_shape:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(missing[:5]))
        if unexpected:
            parts.append("unexpected " + ", ".join(unexpected[:5]))
        if wrong_shape:
            parts.append("wrong shape " + ", ".join(wrong_shape[:5]))
        raise CheckpointError(
            f"The weights in {info.path.name} do not fit this model: " + "; ".join(parts) + "."
        )
    with torch.no_grad():
        model.load_state_dict(weights, strict=True)
