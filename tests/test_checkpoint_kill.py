"""A process SIGKILLed while saving checkpoints always leaves a loadable latest checkpoint."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from gptstudio.core.model import build_model, from_preset
from gptstudio.core.train import clean_stale_temp_files, list_checkpoints, load_checkpoint

MODEL = dict(vocab_size=64, block_size=32, n_layer=4, n_embd=128, n_head=4)

# The child saves checkpoints in a tight loop. Every weight of checkpoint n equals n, and so
# does its training state, so the parent can tell that what it loads is whole and consistent.
CHILD = f"""
import sys, torch
from gptstudio.core.model import build_model, from_preset
from gptstudio.core.train import latest_checkpoint, save_checkpoint
folder = sys.argv[1]
model = build_model(from_preset("nano", **{MODEL!r}))
latest = latest_checkpoint(folder)
step = latest.step + 1 if latest else 1
while True:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(step)
    state = {{"step": step, "moments": torch.full((200_000,), float(step))}}
    save_checkpoint(folder, step, model, state, model_config=model.config.to_dict(),
                    val_loss=1.0 / step, keep_last=2)
    print(step, flush=True)
    step += 1
"""


@pytest.mark.slow
def test_sigkill_during_saves_always_leaves_a_loadable_latest_checkpoint(tmp_path):
    folder = tmp_path / "checkpoints"
    rng = random.Random(0)
    model = build_model(from_preset("nano", **MODEL))
    last_step = 0
    for _ in range(10):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(folder)],
                                 stdout=subprocess.PIPE, text=True)
        try:
            # Wait (by reading its output, not by sleeping) until it has saved a few times...
            for _ in range(rng.randint(1, 4)):
                line = child.stdout.readline()
                assert line, "the child died before saving"
            # ...then kill it after a random extra moment, so the kill lands at a random
            # point of the next save (this jitter is not synchronisation).
            time.sleep(rng.uniform(0.0, 0.05))
            child.send_signal(signal.SIGKILL)
        finally:
            child.wait(timeout=60)
            child.stdout.close()
        assert child.returncode == -signal.SIGKILL

        clean_stale_temp_files(folder)  # what opening a run does
        infos = list_checkpoints(folder)
        assert infos and infos[-1].step > last_step
        last_step = infos[-1].step
        loaded = load_checkpoint(folder, model)
        assert loaded.step == last_step
        assert all(torch.all(p == last_step) for p in model.parameters())
        assert loaded.train_state["step"] == last_step
        assert torch.all(loaded.train_state["moments"] == last_step)
        # Nothing half-written is left behind under a real name or a temp name.
        assert all(p.name.startswith("step-") for p in folder.iterdir())
