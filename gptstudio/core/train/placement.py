"""Putting a model where it trains: the device, its policy, the memory check and DDP.

The Trainer calls `place_for_training` once, before it builds the optimizer (fused AdamW wants
its parameters where they will live): the run's device spec is resolved (`device.py`; under
torchrun, this rank's GPU), the model must fit in the device's free memory (refused before it
runs, with the estimate's numbers), it is moved there, and when several processes train
together it is wrapped in DistributedDataParallel (`distributed.py`). A model the caller already
wrapped in DDP is kept as it is, on its device. Weights are always saved from CPU copies and
loaded onto the CPU first (checkpoint.py, checkpoint_load.py), so where a run trained never
matters to where it resumes or samples.
Left out: the loop (`trainer.py`).
"""

from __future__ import annotations

import os

from torch import nn

from gptstudio.core.model import GPTConfig, LSTMConfig
from gptstudio.core.train.config import TrainConfig
from gptstudio.core.train.device import DevicePolicy, check_fits_device, device_policy, \
    resolve_device
from gptstudio.core.train.distributed import is_running, wrap_ddp


def place_for_training(model: nn.Module, config: TrainConfig, *,
                       world_size: int) -> tuple[DevicePolicy, nn.Module]:
    """(the device's policy, the module to train: `model` moved, or its DDP wrapper)."""
    inner = getattr(model, "module", model)
    if inner is not model:  # wrapped by the caller: it chose the device
        device = next(inner.parameters()).device
        return device_policy(device, precision=config.precision, compile=config.compile), model
    local_rank = int(os.environ["LOCAL_RANK"]) if world_size > 1 and is_running() and \
        "LOCAL_RANK" in os.environ else None
    device = resolve_device(config.device, local_rank=local_rank)
    policy = device_policy(device, precision=config.precision, compile=config.compile)
    current = next(model.parameters()).device
    if device.type != "cpu" and current != device:
        model_config = getattr(model, "config", None)
        if isinstance(model_config, (GPTConfig, LSTMConfig)):  # a fine-tune's model: no estimate
            check_fits_device(model_config, config.batch_size, device)
    if current != device:
        model.to(device)
    if world_size > 1 and is_running():
        return policy, wrap_ddp(model, device)
    return policy, model

