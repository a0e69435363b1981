"""Where a training step's time goes: a per-op summary from torch.profiler, for bench_train.py.

`profile_steps(step, n)` runs `step()` n times under the profiler and returns a `StepProfile`:
the wall time per step, the self time of each op per step (summed over its calls; an op's
self time excludes the ops it calls, so the rows add up to the time spent in ops), and what is
left outside any op (Python, the autograd engine's own bookkeeping). `summary()` prints the top
ops with their share of the step, plus a line per category (matmuls, attention, ...).
The profiler adds a little overhead to each op, so its step time is a bit longer than an
unprofiled one; the shares are what to read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from torch.profiler import ProfilerActivity, profile

# Op name -> category, by the first pattern the name contains (checked in this order).
CATEGORIES = (
    ("matmul", ("aten::mm", "aten::bmm", "aten::addmm", "aten::baddbmm", "aten::matmul",
                "cpp_fused_gemm", "mkldnn")),
    ("attention", ("attention",)),
    ("GELU", ("gelu",)),
    ("layer norm", ("layer_norm",)),
    ("optimizer", ("adam", "lerp_", "addcdiv_", "addcmul_", "aten::sqrt", "linalg_vector_norm",
                   "clamp", "_foreach")),
    ("loss", ("softmax", "nll_loss", "cross_entropy")),
    ("compiled kernels", ("Torch-Compiled", "CompiledFunction", "cpp_fused", "graph_")),
)


def category(op: str) -> str:
    for name, patterns in CATEGORIES:
        if any(p.lower() in op.lower() for p in patterns):
            return name
    return "other ops"


@dataclass(frozen=True)
class StepProfile:
    step_ms: float                       # wall time per step, under the profiler
    op_ms: dict[str, float]              # op name -> self time per step (ms)

    @property
    def outside_ops_ms(self) -> float:
        return max(self.step_ms - sum(self.op_ms.values()), 0.0)

    def by_category(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for op, ms in self.op_ms.items():
            totals[category(op)] = totals.get(category(op), 0.0) + ms
        totals["outside ops (Python, autograd)"] = self.outside_ops_ms
        return dict(sorted(totals.items(), key=lambda kv: -kv[1]))

    def summary(self, title: str, top: int = 10) -> str:
        lines = [f"{title}: {self.step_ms:.1f} ms a step under the profiler"]
        ops = sorted(self.op_ms.items(), key=lambda kv: -kv[1])[:top]
        for op, ms in ops:
            lines.append(f"    {ms:7.2f} ms {100 * ms / self.step_ms:5.1f}%  {op[:60]}")
        lines.append("  by kind: " + ", ".join(
            f"{name} {100 * ms / self.step_ms:.0f}%" for name, ms in self.by_category().items()
            if ms / self.step_ms >= 0.005))
        return "\n".join(lines)


def profile_steps(step: Callable[[], object], n: int) -> StepProfile:
    """Run `step()` n times under torch.profiler (CPU ops); see the module docstring."""
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        started = time.perf_counter()
        for _ in range(n):
            step()
        seconds = time.perf_counter() - started
    op_ms: dict[str, float] = {}
    for event in prof.key_averages():
        # Top-level wrappers ("Optimizer.step#...", "autograd::engine::...") have self time
        # only for their own bookkeeping; they are kept as rows like any other.
        op_ms[event.key] = op_ms.get(event.key, 0.0) + event.self_cpu_time_total / 1e3 / n
    return StepProfile(step_ms=seconds * 1e3 / n, op_ms=op_ms)
