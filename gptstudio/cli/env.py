"""`gptstudio env`: what this installation runs on, for a bug report or a question.

Versions of Python, GPT Studio, torch (and its CUDA/MPS support), Qt, tiktoken and
safetensors, the device training uses and the cache folder. Every line is computed where it is asked
for, and a part that cannot be loaded says why instead of failing the command.
Left out: changing anything.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from importlib import metadata


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `env`."""
    env = sub.add_parser("env", help="versions and devices of this installation")
    env.add_argument("--json", action="store_true", help="print the facts as JSON")
    env.set_defaults(handler=show_env)


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment() -> dict[str, str]:
    """The facts `gptstudio env` prints, as text."""
    from gptstudio import __version__
    from gptstudio import paths

    qt = _version("PySide6-Essentials")
    facts = {
        "gptstudio": __version__,
        "python": f"{platform.python_version()} ({sys.executable})",
        "platform": platform.platform(),
        "torch": _version("torch"),
        "PySide6": qt if qt != "not installed" else _version("PySide6"),
        "pyqtgraph": _version("pyqtgraph"),
        "tiktoken": _version("tiktoken"),
        "safetensors": _version("safetensors"),
        "numpy": _version("numpy"),
        "cache": str(paths.cache_dir()),
    }
    try:
        import torch

        facts["torch threads"] = str(torch.get_num_threads())
        facts["cuda"] = (f"{torch.version.cuda}, {torch.cuda.device_count()} device(s): "
                         + ", ".join(torch.cuda.get_device_name(i)
                                     for i in range(torch.cuda.device_count()))
                         if torch.cuda.is_available() else "not available")
        mps = getattr(torch.backends, "mps", None)
        facts["mps"] = "available" if mps is not None and mps.is_available() else "not available"
        from gptstudio.core.train.device import device_label, resolve_device

        facts["training device"] = device_label(resolve_device("auto"))  # what auto picks here
    except Exception as exc:  # noqa: BLE001 - a broken torch is a fact worth printing
        facts["torch error"] = f"{type(exc).__name__}: {exc}"
    return facts


def show_env(args: argparse.Namespace) -> int:
    facts = environment()
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        width = max(len(k) for k in facts)
        for key, value in facts.items():
            print(f"{key:<{width}}  {value}")
    return 0
