"""Checkpoints: atomic writes, round trips, tied weights, pruning, and refusing what is unsafe."""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys

import pytest
import torch

from gptstudio.core.errors import CheckpointError
from gptstudio.core.model import build_model, from_preset
from gptstudio.core.tokenizers import CharTokenizer
from gptstudio.core.train import (
    atomic_write_bytes,
    best_checkpoint,
    clean_stale_temp_files,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from gptstudio.core.atomic import temp_name


def nano(seed=0, **overrides):
    torch.manual_seed(seed)
    return build_model(from_preset("nano", vocab_size=40, block_size=16, **overrides))


def save(folder, step, model, val_loss=None, keep_last=3, tokenizer=None, state=None):
    return save_checkpoint(
        folder, step, model, state if state is not None else {"step": step},
        model_config=model.config.to_dict(),
        tokenizer_fingerprint=tokenizer.fingerprint() if tokenizer else None,
        tokenizer_name=tokenizer.name if tokenizer else None,
        val_loss=val_loss, keep_last=keep_last,
    )


# --- atomic writes -------------------------------------------------------------------------


def test_atomic_write_replaces_the_file_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new contents")
    assert target.read_bytes() == b"new contents"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_a_failed_atomic_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # fails inside the write
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_stale_temp_files_of_dead_writers_are_cleaned_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)  # that process has exited
    stale_file = tmp_path / f".meta.json.tmp-{dead_pid}-ab12"
    stale_dir = tmp_path / f".tmp-step-00000005-{dead_pid}-cd34"
    live_file = tmp_path / temp_name("meta.json")  # ours: a save in progress
    unrelated = tmp_path / "notes.tmp-1-2"
    for f in (stale_file, live_file, unrelated):
        f.write_bytes(b"x")
    stale_dir.mkdir()
    (stale_dir / "model.safetensors").write_bytes(b"half")
    removed = clean_stale_temp_files(tmp_path)
    assert sorted(removed) == sorted([stale_file, stale_dir])
    assert live_file.exists() and unrelated.exists() and not stale_dir.exists()


# --- save and load -------------------------------------------------------------------------


def test_round_trip_restores_tied_weights_and_the_training_state(tmp_path):
    model = nano(0, tie_weights=True)
    assert model.lm_head.weight is model.transformer.wte.weight
    state = {"rng": torch.get_rng_state(), "batcher": json.dumps({"big": 2**100}),
             "nested": {"betas": (0.9, 0.99), "none": None, "list": [1, 2.5, "x"]}}
    info = save(tmp_path, 7, model, val_loss=2.5, state=state)
    assert info.step == 7 and info.val_loss == 2.5 and info.path.name == "step-00000007"
    # Tied weights are stored once.
    import safetensors
    with safetensors.safe_open(info.path / "model.safetensors", "pt") as f:
        keys = set(f.keys())
    assert "lm_head.weight" not in keys and "transformer.wte.weight" in keys

    other = nano(1, tie_weights=True)
    loaded = load_checkpoint(info.path, other)
    assert other.lm_head.weight is other.transformer.wte.weight  # still tied
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), name
    idx = torch.randint(0, 40, (2, 16))
    model.eval(), other.eval()
    assert torch.equal(model(idx).logits, other(idx).logits)
    assert loaded.step == 7
    assert torch.equal(loaded.train_state["rng"], state["rng"])
    assert json.loads(loaded.train_state["batcher"]) == {"big": 2**100}
    assert loaded.train_state["nested"] == {"betas": (0.9, 0.99), "none": None,
                                            "list": [1, 2.5, "x"]}


def test_untied_models_round_trip_too(tmp_path):
    model = nano(0, tie_weights=False)
    info = save(tmp_path, 1, model)
    other = nano(1, tie_weights=False)
    load_checkpoint(info.path, other)
    assert torch.equal(other.lm_head.weight, model.lm_head.weight)
    assert other.lm_head.weight is not other.transformer.wte.weight


def test_a_run_folder_or_checkpoints_folder_loads_its_latest_checkpoint(tmp_path):
    folder = tmp_path / "checkpoints"
    for step in (5, 10):
        save(folder, step, nano(step))
    assert load_checkpoint(folder, nano()).step == 10
    assert load_checkpoint(tmp_path, nano()).step == 10  # the run folder
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no complete checkpoint"):
        load_checkpoint(empty, nano())


def test_saving_the_same_step_again_replaces_it(tmp_path):
    save(tmp_path, 3, nano(0))
    save(tmp_path, 3, nano(1))
    assert [i.step for i in list_checkpoints(tmp_path)] == [3]
    loaded = nano(2)
    load_checkpoint(tmp_path, loaded)
    assert torch.equal(loaded.transformer.wpe.weight, nano(1).transformer.wpe.weight)
    assert [p.name for p in tmp_path.iterdir()] == ["step-00000003"]


def test_pruning_keeps_the_last_k_and_the_best(tmp_path):
    losses = {1: 3.0, 2: 1.0, 3: 2.0, 4: 2.5, 5: None, 6: 2.2}
    for step, loss in losses.items():
        save(tmp_path, step, nano(), val_loss=loss, keep_last=2)
    assert [i.step for i in list_checkpoints(tmp_path)] == [2, 5, 6]
    assert best_checkpoint(tmp_path).step == 2 and latest_checkpoint(tmp_path).step == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "step-00000002", "step-00000005", "step-00000006"]


def test_incomplete_or_foreign_folders_are_skipped_when_listing(tmp_path):
    save(tmp_path, 1, nano())
    (tmp_path / "step-00000009").mkdir()  # no meta.json: never completed
    (tmp_path / "random-folder").mkdir()
    assert [i.step for i in list_checkpoints(tmp_path)] == [1]


# --- refusing what is wrong or unsafe ------------------------------------------------------


class Exploit:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_malicious_pickle_offered_as_a_checkpoint_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"state": Exploit(marker)}))
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="not a GPT Studio checkpoint folder"):
        load_checkpoint(evil, nano())
    assert not marker.exists()
    pickle.loads(evil.read_bytes())  # the control: an ordinary unpickler does run the code
    assert marker.exists()


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("how", ["pickle", "torch.save"])
def test_a_malicious_training_state_inside_a_checkpoint_is_refused(tmp_path, how):
    marker = tmp_path / "pwned"
    info = save(tmp_path / "ckpts", 1, nano())
    if how == "pickle":
        payload = pickle.dumps({"optimizer": Exploit(marker)})
    else:
        buffer = io.BytesIO()
        torch.save({"optimizer": Exploit(marker)}, buffer)
        payload = buffer.getvalue()
    (info.path / "state.pt").write_bytes(payload)
    with pytest.raises(CheckpointError, match="Refused to load .*state.pt.*could run code"):
        load_checkpoint(info.path, nano())
    assert not marker.exists()


def test_a_pickle_disguised_as_safetensors_weights_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    info = save(tmp_path, 1, nano())
    (info.path / "model.safetensors").write_bytes(pickle.dumps(Exploit(marker)))
    with pytest.raises(CheckpointError, match="weights file .* is damaged"):
        load_checkpoint(info.path, nano())
    assert not marker.exists()


def test_a_mismatched_model_config_is_named(tmp_path):
    info = save(tmp_path, 1, nano())
    with pytest.raises(CheckpointError, match=r"n_layer=2 in the checkpoint but 3 here"):
        load_checkpoint(info.path, nano(n_layer=3))
    with pytest.raises(CheckpointError, match=r"n_embd=64 in the checkpoint but 32 here"):
        load_checkpoint(info.path, nano(n_embd=32))
    load_checkpoint(info.path, nano(dropout=0.3))  # dropout may differ: same weights


def test_a_config_saved_before_a_field_existed_means_its_default(tmp_path):
    # Runs saved before GPTConfig.activation existed have no such key: they used the tanh GELU.
    model = nano(bias=True, activation="gelu_tanh")
    old_config = {k: v for k, v in model.config.to_dict().items() if k != "activation"}
    info = save_checkpoint(tmp_path, 1, model, {"step": 1}, model_config=old_config)
    load_checkpoint(info.path, nano(bias=True, activation="gelu_tanh"))
    with pytest.raises(CheckpointError, match=r"activation='gelu_tanh' in the checkpoint but "
                                              r"'gelu' here"):
        load_checkpoint(info.path, nano(bias=True, activation="gelu"))


def test_weights_that_do_not_fit_are_named_even_without_a_config(tmp_path):
    info = save(tmp_path, 1, nano())
    model = nano(n_layer=3)
    with pytest.raises(CheckpointError, match="missing transformer.h.2"):
        load_checkpoint(info.path, model, model_config={"arch": "gpt", **{
            k: v for k, v in nano().config.to_dict().items() if k != "arch"}})


def test_a_mismatched_tokenizer_is_named(tmp_path):
    trained_on = CharTokenizer.from_text("abc def")
    info = save(tmp_path, 1, nano(), tokenizer=trained_on)
    load_checkpoint(info.path, nano(), tokenizer=CharTokenizer.from_text("abc def"))
    with pytest.raises(CheckpointError, match="different tokenizer"):
        load_checkpoint(info.path, nano(), tokenizer=CharTokenizer.from_text("xyz"))


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda p: (p / "meta.json").unlink(), "meta.json is missing"),
        (lambda p: (p / "meta.json").write_text("{not json"), "damaged"),
        (lambda p: (p / "meta.json").write_text('{"format": "other"}'), "foreign"),
        (lambda p: (p / "meta.json").write_text('{"format": "gptstudio-checkpoint", '
                                                '"version": 99}'), "newer"),
        (lambda p: (p / "state.pt").unlink(), "state.pt is missing"),
        (lambda p: (p / "state.pt").write_bytes(b"garbage"), "Refused"),
        (lambda p: (p / "model.safetensors").write_bytes(b"\x00" * 3), "damaged"),
    ],
)
def test_damaged_checkpoints_give_a_clear_error(tmp_path, damage, words):
    info = save(tmp_path, 1, nano())
    damage(info.path)
    with pytest.raises(CheckpointError, match=words):
        load_checkpoint(info.path, nano())


def test_a_missing_path_is_reported(tmp_path):
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(tmp_path / "nowhere", nano())
    assert not os.path.exists(tmp_path / "nowhere")
