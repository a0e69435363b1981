"""A fine-tune's own files: the LoRA adapter on its own, and the held-out responses.

- The adapter (`Run.adapter_path`, `adapter.safetensors`): the `lora_A` / `lora_B` matrices of
  every adapted layer, under the layer's GPT-2 name, in safetensors (no code runs on load). Its
  metadata holds the LoRA config (rank, alpha, dropout, targets), the adapted blocks, the step
  and the base run, so the file alone says how to put it on a base: `apply_adapter(gpt, path)`.
  A LoRA fine-tune rewrites it (atomically) after each checkpoint: it is the latest
  checkpoint's adapter, a few hundred kilobytes where the checkpoint holds the whole model.
- The responses (`Run.responses_path`, `responses.json`): each held-out record's instruction,
  input, reference and generated response with its overlap score, and the run's scores, so
  runs can be compared offline (`ResponseReport.to_dict()`).
Left out: LoRA itself (`lora.py`), generating and scoring (`instructions.py`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import safetensors
import safetensors.torch
from torch import nn

from gptstudio.core.atomic import atomic_write_bytes, atomic_write_text
from gptstudio.core.errors import CheckpointError, ConfigError
from gptstudio.core.finetune.lora import (
    LoRAConfig,
    block_index,
    adapter_state_dict,
    apply_lora,
    load_adapter_state_dict,
    lora_layers,
)

ADAPTER_FORMAT = "gptstudio-lora-adapter"


def save_adapter(model: nn.Module, path: str | os.PathLike, config: LoRAConfig, *,
                 step: int, base_run: str | None = None) -> Path:
    """Write `model`'s adapter alone (see the module docstring), atomically."""
    tensors = adapter_state_dict(model)
    if not tensors:
        raise ConfigError("This model has no LoRA adapter to save.")
    blocks = sorted({b for name, _ in lora_layers(model)
                     if (b := block_index(name)) is not None})
    metadata = {"format": ADAPTER_FORMAT, "lora": json.dumps(config.to_dict()),
                "blocks": json.dumps(blocks), "step": str(int(step)),
                "base_run": base_run or ""}
    path = Path(path)
    atomic_write_bytes(path, safetensors.torch.save(tensors, metadata=metadata))
    return path


def read_adapter(path: str | os.PathLike) -> tuple[dict[str, Any], LoRAConfig, dict[str, Any]]:
    """(tensors, LoRA config, metadata: blocks, step, base_run) of an adapter file;
    CheckpointError if it is not one."""
    path = Path(path)
    try:
        with safetensors.safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except FileNotFoundError:
        raise CheckpointError(f"{path} does not exist.") from None
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise CheckpointError(f"{path} is not a safetensors file: {exc}") from None
    if metadata.get("format") != ADAPTER_FORMAT:
        raise CheckpointError(f"{path} is not a GPT Studio LoRA adapter.")
    try:
        config = LoRAConfig.from_dict(json.loads(metadata["lora"]))
        info = {"blocks": json.loads(metadata.get("blocks", "null")),
                "step": int(metadata.get("step", 0)), "base_run": metadata.get("base_run", "")}
    except (KeyError, ValueError, ConfigError) as exc:
        raise CheckpointError(f"The adapter {path} is damaged ({exc}).") from None
    return tensors, config, info


def apply_adapter(model: nn.Module, path: str | os.PathLike) -> LoRAConfig:
    """Adapt `model` (a GPT of the adapter's base) as the file says and load the adapter into
    it (unmerged: `merge_lora` to fold it in); its LoRA config."""
    tensors, config, info = read_adapter(path)
    apply_lora(model, config, blocks=info["blocks"] or None)
    try:
        load_adapter_state_dict(model, tensors)
    except ConfigError as exc:
        raise CheckpointError(f"{Path(path).name}: {exc} Is it the adapter of another base?") \
            from None
    return config


def write_responses(path: str | os.PathLike, report: Any) -> Path:
    """Write a `ResponseReport` as JSON, atomically."""
    path = Path(path)
    atomic_write_text(path, json.dumps(report.to_dict(), indent=1, ensure_ascii=False))
    return path
