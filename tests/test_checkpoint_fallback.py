"""A damaged newest checkpoint no longer blocks a run: loading a run falls back to the newest
intact one and says so; weights that are not finite are refused with a clear message."""

from __future__ import annotations

import pytest
import safetensors.torch
import torch

from gptstudio.core.errors import CheckpointError
from gptstudio.core.model import build_model, from_preset
from gptstudio.core.train import load_checkpoint, save_checkpoint


def nano(seed=0):
    torch.manual_seed(seed)
    return build_model(from_preset("nano", vocab_size=40, block_size=16))


def save(folder, step, model):
    return save_checkpoint(folder, step, model, {"step": step},
                           model_config=model.config.to_dict(), keep_last=5)


def damage(info, how):
    if how == "weights":
        (info.path / "model.safetensors").write_bytes(b"\x00" * 40)
    elif how == "state":
        (info.path / "state.pt").write_bytes(b"truncated")
    elif how == "meta":
        (info.path / "meta.json").write_text("{ not json", encoding="utf-8")
    elif how == "nan":
        weights = safetensors.torch.load_file(info.path / "model.safetensors")
        weights["transformer.h.0.mlp.c_fc.weight"][0, 0] = float("nan")
        safetensors.torch.save_file(weights, info.path / "model.safetensors")


@pytest.mark.parametrize("how", ["weights", "state", "meta", "nan"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_newest_intact_one(tmp_path, how):
    folder = tmp_path / "checkpoints"
    models = {step: nano(step) for step in (5, 10, 15)}
    infos = {step: save(folder, step, model) for step, model in models.items()}
    damage(infos[15], how)
    model = nano(99)
    loaded = load_checkpoint(tmp_path, model)  # the run folder: the newest intact one
    assert loaded.step == 10
    assert len(loaded.skipped) == 1 and loaded.skipped[0].startswith("step-00000015")
    assert "step 10 was loaded" in loaded.note and "newest intact" in loaded.note
    for name, tensor in models[10].state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    # Asked for that checkpoint by name, the damage is the error, said plainly.
    with pytest.raises(CheckpointError, match="damaged|not finite|incomplete|not a plain"):
        load_checkpoint(infos[15].path, nano())


def test_nan_weights_are_refused_with_what_to_do(tmp_path):
    info = save(tmp_path / "checkpoints", 3, nano())
    damage(info, "nan")
    with pytest.raises(CheckpointError, match="not finite.*transformer.h.0.mlp.c_fc.weight"):
        load_checkpoint(info.path, nano())


def test_when_every_checkpoint_is_damaged_each_is_named(tmp_path):
    folder = tmp_path / "checkpoints"
    for step in (1, 2):
        damage(save(folder, step, nano(step)), "weights")
    with pytest.raises(CheckpointError, match="Every checkpoint.*step-00000002.*step-00000001"):
        load_checkpoint(tmp_path, nano())


def test_a_mismatch_is_not_taken_for_damage(tmp_path):
    folder = tmp_path / "checkpoints"
    for step in (1, 2):
        save(folder, step, nano(step))
    other = build_model(from_preset("nano", vocab_size=41, block_size=16))
    with pytest.raises(CheckpointError, match="vocab_size") as raised:
        load_checkpoint(tmp_path, other)
    assert "Every checkpoint" not in str(raised.value)  # no silent fall back past a mismatch


def test_a_truncated_state_is_damage_and_a_pickle_is_refused_without_torchs_advice(tmp_path):
    import os
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    truncated = save(tmp_path / "a", 1, nano())
    data = (truncated.path / "state.pt").read_bytes()
    (truncated.path / "state.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="damaged \\(truncated or corrupt") as raised:
        load_checkpoint(truncated.path, nano())
    assert "code" not in str(raised.value)  # a broken file is not called an attack
    evil = save(tmp_path / "b", 1, nano())
    (evil.path / "state.pt").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="could run code") as raised:
        load_checkpoint(evil.path, nano())
    assert "weights_only" not in str(raised.value)
