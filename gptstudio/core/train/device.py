"""Where a run trains (CPU, an NVIDIA GPU, Apple's MPS) and what each device does differently.

A device is named by a spec string, one rule for the CLI's `--device`, the app's device field
and `TrainConfig.device`: "auto" (the first of CUDA, MPS, CPU that this machine has), "cpu",
"cuda" (GPU 0, or the rank's own GPU under torchrun), "cuda:N" or "mps". Asking for a device
that is not there is an error that says what to use instead; it never silently falls back.

Each device then gets its own `DevicePolicy`, decided once when a Trainer is made:
- precision: on CUDA, bf16 autocast where the GPU has native bf16 (Ampere and later), else fp16
  autocast with a gradient scaler (fp16's narrow range under-flows small gradients: the loss is
  multiplied up before backward and the gradients divided back before clipping; its state is
  checkpointed, state.py, so a resumed fp16 run goes on with its scale); on the CPU the
  rule of `precision.py` (bf16 only where the CPU has bf16 matmuls); on MPS fp32 unless bf16 or
  fp16 is asked for (MPS autocast is younger and op coverage varies by macOS version).
- TF32 matmuls on CUDA (`torch.set_float32_matmul_precision("high")`): fp32 matmuls, e.g. in
  evaluation or an fp32 run, use the tensor cores with a 10-bit mantissa;
- fused AdamW (one kernel for all parameters) on CPU, CUDA and MPS (`optimizer.py`);
- `torch.compile` on by default on CUDA (where Triton is installed): on a GPU the fused kernels
  pay off within a few hundred steps; on the CPU the rule of `precision.py` (off);
- batches copied to a GPU from pinned (page-locked) memory with `non_blocking=True`, so the copy
  overlaps the GPU's work instead of stalling the Python thread.
Generation and attention in the app read models on `inference_device(spec)`: the device, or
the CPU where this machine lacks it. Memory: `free_memory(device)` is what the device has free
now (CUDA `mem_get_info`, else the system's available RAM), so `check_fits_device` refuses a
model that cannot train there before it runs; an out-of-memory error in the middle of a run
becomes `out_of_memory_message`.
Left out: moving the model and the loop (`trainer.py`), several processes (`distributed.py`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import torch

from gptstudio.core.errors import ConfigError
from gptstudio.core.train.precision import resolve_compile as cpu_compile_rule
from gptstudio.core.train.precision import resolve_precision as cpu_precision_rule

DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")  # and "cuda:N"
_SPEC = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def check_device_spec(spec: Any, name: str = "device") -> str:
    """`spec` if it is a device spec (syntax only: the device may be absent), else ConfigError."""
    if not isinstance(spec, str) or not _SPEC.match(spec):
        raise ConfigError(f"{name} must be auto, cpu, cuda, cuda:N or mps, got {spec!r}.")
    return spec


def device_choices() -> tuple[str, ...]:
    """The specs worth offering here: DEVICE_CHOICES, plus cuda:N for each GPU of several."""
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return DEVICE_CHOICES + (tuple(f"cuda:{i}" for i in range(count)) if count > 1 else ())


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(spec: str = "auto", *, local_rank: int | None = None) -> torch.device:
    """The torch.device `spec` names on this machine, or ConfigError saying what to do.

    `local_rank` (under torchrun): "auto" and "cuda" mean this rank's GPU, cuda:LOCAL_RANK.
    """
    spec = check_device_spec(spec)
    if spec == "auto":
        if torch.cuda.is_available():
            spec = "cuda"
        elif mps_available():
            return torch.device("mps")
        else:
            return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not mps_available():
            raise ConfigError("The Apple GPU (mps) was asked for, but PyTorch sees none here "
                              "(it needs a Mac with Apple silicon and macOS 12.3 or later); use "
                              "--device cpu or auto.")
        return torch.device("mps")
    if not torch.cuda.is_available():
        build = ("this PyTorch is built without CUDA (install a CUDA build of PyTorch)"
                 if torch.version.cuda is None else
                 "no NVIDIA GPU or driver is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES)")
        raise ConfigError(f"A CUDA GPU was asked for ({spec}), but {build}; use --device cpu "
                          "or auto (what this machine has).")
    count = torch.cuda.device_count()
    if spec == "cuda":
        index = 0 if local_rank is None else local_rank
    elif local_rank is not None:
        raise ConfigError(f"Under torchrun each process uses its own GPU (cuda:LOCAL_RANK), so "
                          f"--device {spec} cannot be honoured; use --device cuda or auto.")
    else:
        index = int(spec.split(":")[1])
    if index >= count:
        raise ConfigError(f"cuda:{index} was asked for, but this machine has {count} CUDA "
                          f"GPU{'s' if count != 1 else ''} (cuda:0 .. cuda:{count - 1}).")
    return torch.device("cuda", index)


def device_label(device: torch.device) -> str:
    """A short human name of a device: "CUDA 0: NVIDIA H100 80GB HBM3", "CPU · 8 threads"."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"CUDA {index}: {torch.cuda.get_device_name(index)}"
    if device.type == "mps":
        return "Apple GPU (MPS)"
    n = torch.get_num_threads()
    return f"CPU · {n} thread{'s' if n != 1 else ''}"


def free_memory(device: torch.device) -> int | None:
    """Bytes free on `device` now (None: unknown, so nothing is refused)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    if device.type == "mps":  # unified memory: what Metal recommends, less what is in use
        limit = getattr(torch.mps, "recommended_max_memory", None)
        used = getattr(torch.mps, "driver_allocated_memory", None)
        if limit is not None and used is not None:
            return int(limit() - used())
    from gptstudio.core.model.estimate import available_memory

    return available_memory()


def check_fits_device(config: Any, batch_size: int, device: torch.device, *,
                      training: bool = True) -> Any:
    """`check_fits` against the free memory of `device`: ConfigError naming the device when the
    model would not fit (for a GPU, the message also says the CPU may hold it)."""
    from gptstudio.core.model import check_fits

    try:
        return check_fits(config, batch_size, free_memory(device), training=training)
    except ConfigError as exc:
        if device.type == "cpu":
            raise
        raise ConfigError(f"On {device_label(device)}: {exc} Or train with gradient "
                          "accumulation (--set grad_accum=N with a smaller batch).") from None


# --- the policy of a device ---------------------------------------------------------------------


@dataclass(frozen=True)
class DevicePolicy:
    """How a run trains on its device (see the module docstring); `precision` is "fp32",
    "bf16" or "fp16" (fp16 always with `grad_scaler`)."""

    device: torch.device
    precision: str
    compile: bool
    grad_scaler: bool = False
    fused_adamw: bool = True
    tf32: bool = False
    pin_memory: bool = False

    @property
    def label(self) -> str:
        return device_label(self.device)

    def autocast(self) -> AbstractContextManager:
        """The context a forward pass runs in: autocast to bf16/fp16, or nothing for fp32."""
        if self.precision in _DTYPES:
            return torch.autocast(device_type=self.device.type, dtype=_DTYPES[self.precision])
        return contextlib.nullcontext()

    def make_grad_scaler(self) -> torch.amp.GradScaler | None:
        if not self.grad_scaler:
            return None
        return torch.amp.GradScaler(self.device.type)

    def to_device(self, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """A CPU batch on the device (pinned and non-blocking for a GPU); no copy on the CPU."""
        if self.device.type == "cpu":
            return tuple(batch)
        if self.pin_memory:
            return tuple(t.pin_memory().to(self.device, non_blocking=True) for t in batch)
        return tuple(t.to(self.device) for t in batch)

    def apply_backend_settings(self) -> None:
        """Process-wide switches this device wants (TF32 on CUDA); called once a run starts."""
        if self.tf32:
            torch.set_float32_matmul_precision("high")


def resolve_precision(requested: str, device: torch.device) -> str:
    """"fp32", "bf16" or "fp16" for a config's precision on `device` (see the docstring)."""
    if requested not in ("auto", "fp32", "bf16", "fp16"):
        raise ConfigError(f"Unknown precision {requested!r}; use auto, fp32, bf16 or fp16.")
    if device.type == "cpu":
        if requested == "fp16":
            raise ConfigError("fp16 autocast is for GPUs; on the CPU use bf16 or fp32.")
        return cpu_precision_rule(requested, device)
    if device.type == "cuda":
        native_bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
        if requested == "auto":
            return "bf16" if native_bf16 else "fp16"
        if requested == "bf16" and not native_bf16:
            raise ConfigError(f"{device_label(device)} has no native bf16; use fp16 (with its "
                              "gradient scaler) or fp32.")
        return requested
    if requested == "auto":  # mps, and any other accelerator: fp32 unless asked
        return "fp32"
    if requested != "fp32" and not torch.amp.is_autocast_available(device.type):
        raise ConfigError(f"{requested} autocast is not available on {device.type} with this "
                          "PyTorch; use fp32.")
    return requested


def resolve_compile(requested: str, device: torch.device) -> bool:
    """Whether to torch.compile: "auto" is on for CUDA with Triton, else `precision.py`'s rule."""
    if requested == "auto" and device.type == "cuda":
        return importlib.util.find_spec("triton") is not None
    return cpu_compile_rule(requested, device)


def device_policy(device: torch.device, *, precision: str = "auto",
                  compile: str = "auto") -> DevicePolicy:
    """The policy of `device` for a run asking for `precision` and `compile`."""
    chosen = resolve_precision(precision, device)
    gpu = device.type == "cuda"
    return DevicePolicy(
        device=device, precision=chosen, compile=resolve_compile(compile, device),
        grad_scaler=chosen == "fp16", fused_adamw=device.type in ("cpu", "cuda", "mps"),
        tf32=gpu, pin_memory=gpu,
    )


# --- out of memory ------------------------------------------------------------------------------


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` is an allocator's out-of-memory error (CUDA, MPS or the CPU's)."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and ("out of memory" in text.lower()
                                              or "MPS backend out of memory" in text)


def out_of_memory_message(device: torch.device, *, step: int, batch_size: int,
                          grad_accum: int, block_size: int, checkpoint: str | None) -> str:
    """What to say when a step ran out of memory: what was running, what to change, and that
    the last checkpoint on disk is intact (checkpoints are written whole or not at all)."""
    half = max(1, batch_size // 2)
    kept = (f" The last checkpoint is intact: {checkpoint} (start a new run from its weights "
            "with --init-from and the smaller batch)." if checkpoint else
            " No checkpoint was saved yet.")
    return (f"{device_label(device)} ran out of memory at step {step + 1} (batch size "
            f"{batch_size} x block_size {block_size}). Use a smaller batch with gradient "
            f"accumulation for the same tokens per step (e.g. --set batch_size={half} --set "
            f"grad_accum={grad_accum * (batch_size // half)}), a shorter block_size or a "
            f"smaller model." + kept)


def device_failure_message(exc: BaseException, device: torch.device, *, step: int,
                           batch_size: int, grad_accum: int, block_size: int,
                           checkpoint: str | None) -> str | None:
    """What to tell the user when `exc` is the device's fault: out of memory, or an operation
    MPS does not implement (PyTorch can run those on the CPU); None for any other error."""
    if is_out_of_memory(exc):
        return out_of_memory_message(device, step=step, batch_size=batch_size,
                                     grad_accum=grad_accum, block_size=block_size,
                                     checkpoint=checkpoint)
    if device.type == "mps" and isinstance(exc, NotImplementedError):
        return (f"An operation is not implemented on the Apple GPU (mps) yet: {exc}. Set "
                "PYTORCH_ENABLE_MPS_FALLBACK=1 to run such operations on the CPU, or train "
                "with --device cpu.")
    return None


def empty_cache(device: torch.device) -> None:
    """Give the allocator's cached blocks back (after an out-of-memory error)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
    elif device.type == "mps":
        torch.mps.empty_cache()


def check_fits_for_training(model_config: Any, config: Any) -> Any:
    """`check_fits` where `config` (a TrainConfig) trains: the free memory of its device."""
    return check_fits_device(model_config, config.batch_size, resolve_device(config.device))


def inference_device(spec: str) -> tuple[torch.device, str]:
    """Where to read a model for generating text or looking inside it, and a note.

    The device `spec` names here; where this machine lacks it (a run trained on a GPU, opened
    on a laptop), the CPU, with the reason as the note ("" otherwise): checkpoints load on any
    device, so reading a model never fails for want of the one it trained on.
    """
    try:
        return resolve_device(spec), ""
    except ConfigError as exc:
        return torch.device("cpu"), f"Reading the model on the CPU: {exc}"
