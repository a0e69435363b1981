"""Speed options of the training loop: bfloat16 autocast and torch.compile, and what "auto" picks.

bfloat16 ("brain float") keeps float32's exponent range with fewer mantissa bits, so it needs no
loss scaling; under `torch.autocast` the matmuls run in bf16 while the weights, the optimizer and
the numerically touchy ops (softmax, norms, the loss) stay in float32. On CPUs with native bf16
instructions (AVX512-BF16, AMX) the matmuls get several times faster and training clearly gains,
with the same final loss (the model's attention still runs in fp32: PyTorch's CPU flash-attention
kernel is much slower in bf16, see `model/attention.py`); elsewhere bf16 is emulated and slower.
So "auto" picks bf16 only where the hardware has it.

`torch.compile` fuses the many small element-wise ops of a small model into a few kernels; it
gains a little, after tens of seconds of compiling on a fresh machine, which a playground run of a
couple of minutes does not earn back, and it needs a C++ compiler. So "auto" leaves it off; "on"
asks for it (the trainer falls back to eager mode with a warning if it fails).
`benchmarks/bench_train.py --options` prints the figures behind these rules; the ones measured so
far are in docs/MEASUREMENTS.md. Left out: the loop (`trainer.py`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager

import torch

from gptstudio.core.errors import ConfigError


def has_fast_bf16(device: torch.device) -> bool:
    """Whether this device runs bf16 matmuls natively (so autocast makes training faster)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        # Private but stable helpers (used by PyTorch's own tests); absent -> assume no.
        checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
        return any(getattr(torch.cpu, name, lambda: False)() for name in checks)
    return False


def resolve_precision(requested: str, device: torch.device) -> str:
    """"fp32" or "bf16" for a config's precision ("auto" picks bf16 where it is native)."""
    if requested == "fp32":
        return "fp32"
    if requested == "bf16":
        if device.type not in ("cpu", "cuda"):
            raise ConfigError(f"bf16 autocast is not available on {device.type}; use fp32.")
        return "bf16"
    if requested == "auto":
        return "bf16" if has_fast_bf16(device) else "fp32"
    raise ConfigError(f"Unknown precision {requested!r}; use auto, fp32 or bf16.")


def resolve_compile(requested: str, device: torch.device) -> bool:
    """Whether to torch.compile the model ("auto": no; see the module docstring)."""
    if requested in ("on", "off"):
        return requested == "on"
    if requested == "auto":
        return False
    raise ConfigError(f"Unknown compile setting {requested!r}; use auto, on or off.")


def autocast_factory(precision: str, device: torch.device) -> Callable[[], AbstractContextManager]:
    """A function making the context a forward pass runs in (autocast for bf16, else nothing)."""
    if precision == "bf16":
        return lambda: torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext
