"""A quick look at a run's newest checkpoint, for the moment a run is opened.

Loading falls back past a damaged newest checkpoint to the newest intact one and says so
(`LoadedCheckpoint.note`), but only once it loads, i.e. when the run is resumed or sampled. An
app that opens a run wants to say it at once, without reading the weights (hundreds of MB for
GPT-2 sizes): `safetensors.safe_open` checks the weights file's header against the file's size
(a truncated or overwritten file fails), and the training state must be a non-empty regular
file. What this cannot see (a NaN inside the weights, a corrupt state whose size looks right)
is still found, and reported, by `load_checkpoint`.
Left out: loading (`checkpoint_load.py`).
"""

from __future__ import annotations

import stat

from safetensors import safe_open

from gptstudio.core.errors import CheckpointError
from gptstudio.core.train.checkpoint import STATE_FILE, WEIGHTS_FILE, read_checkpoint_info
from gptstudio.core.train.run import Run


def newest_checkpoint_note(run: Run) -> str:
    """A sentence when the newest checkpoint folder looks damaged (naming it, and the newest
    one that looks intact); "" when it looks intact or the run has none."""
    folders = sorted(run.checkpoints_dir.glob("step-*"), reverse=True)
    damage = []
    for folder in folders:
        problem = _problem(folder)
        if problem is None:
            if not damage:
                return ""
            return (f"The newest checkpoint is damaged ({'; '.join(damage)}), so resuming or "
                    f"sampling uses {folder.name}, the newest intact one.")
        damage.append(f"{folder.name}: {problem}")
    return f"No checkpoint of this run can be used ({'; '.join(damage)})." if damage else ""


def _problem(folder) -> str | None:
    try:
        read_checkpoint_info(folder)
    except CheckpointError as exc:
        return str(exc)
    weights = folder / WEIGHTS_FILE
    try:
        if not stat.S_ISREG(weights.lstat().st_mode):
            return f"{WEIGHTS_FILE} is not a regular file"
        with safe_open(str(weights), framework="pt"):
            pass  # the header parsed and covers the whole file
    except OSError:
        return f"{WEIGHTS_FILE} is missing or unreadable"
    except Exception:  # noqa: BLE001 - safetensors raises its own error types
        return f"{WEIGHTS_FILE} is truncated or overwritten"
    try:
        state = (folder / STATE_FILE).lstat()
    except OSError:
        return f"{STATE_FILE} is missing"
    if not stat.S_ISREG(state.st_mode) or state.st_size == 0:
        return f"{STATE_FILE} is empty or not a regular file"
    return None
