"""A GPU box runs the repository from its checkout on a Python with torch but without this
project's small dependencies (`scripts/gpu_check.sh`): core and the CLI must train, resume, sample
and lock run folders there with `psutil`, `platformdirs` and PySide6 all absent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gptstudio.core import system

ROOT = Path(__file__).resolve().parents[1]
BARE = ("import sys\n"
        "for name in ('psutil', 'platformdirs', 'PySide6'):\n"
        "    sys.modules[name] = None  # `import name` now fails as on a bare machine\n"
        "from gptstudio.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n")


def bare(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GPTSTUDIO_OFFLINE": "1",
           "OMP_NUM_THREADS": "1"}
    env.pop("GPTSTUDIO_CACHE_DIR", None)
    env["XDG_CACHE_HOME"] = str(cwd / "xdg")
    env["HOME"] = str(cwd)
    return subprocess.run([sys.executable, "-c", BARE, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_train_resume_and_sample_without_psutil_platformdirs_or_qt(tmp_path):
    run = tmp_path / "run"
    common = ["--preset", "nano", "--set", "eval_interval=5", "--set", "eval_iters=1",
              "--set", "sample_interval=0", "--set", "batch_size=2", "--quiet"]
    first = bare("train", "--run-dir", str(run), "--set", "max_steps=5", *common, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = bare("train", "--run-dir", str(run), "--resume", "--set", "max_steps=8", "--quiet",
                cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert (run / "checkpoints").is_dir() and not (run / "run.lock").exists()
    sample = bare("sample", "--run", str(run), "--max-new-tokens", "5", "--seed", "1",
                  cwd=tmp_path)
    assert sample.returncode == 0, sample.stderr
    assert sample.stdout.strip()
    # without platformdirs the token cache went to $XDG_CACHE_HOME/gptstudio
    assert (tmp_path / "xdg" / "gptstudio").is_dir()


def test_the_posix_fallbacks_answer_like_psutil(monkeypatch):
    real_alive, real_memory = system.pid_exists(os.getpid()), system.available_memory()
    monkeypatch.setattr(system, "psutil", None)
    assert system.pid_exists(os.getpid()) is real_alive is True
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert system.pid_exists(child.pid) is False  # reaped: the id names no process now
    assert system.process_start_time(os.getpid()) is None  # unknown, so never judged reused
    memory = system.available_memory()
    assert memory is not None and real_memory is not None
    assert 0.5 * real_memory < memory < 2 * real_memory + 2**30
