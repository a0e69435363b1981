"""Run folders: create/open, clear errors for non-runs, and metrics.jsonl read while training."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from gptstudio.core.errors import CheckpointError, ConfigError
from gptstudio.core.model import GPTConfig, build_model, from_preset
from gptstudio.core.tokenizers import CharTokenizer
from gptstudio.core.train import (
    Run,
    StatusEvent,
    StepEvent,
    TrainConfig,
    Trainer,
    WarningEvent,
    read_metrics,
    save_checkpoint,
)
from tests.tiny_runs import one_thread  # noqa: F401 - one_thread is active here


@pytest.fixture
def tok():
    return CharTokenizer.from_text("hello world, the quick brown fox\n")


def model_config(tok):
    return from_preset("nano", vocab_size=tok.vocab_size, block_size=16)


def test_create_then_open_round_trips_every_config_and_the_tokenizer(tmp_path, tok):
    cfg = TrainConfig(max_steps=10, batch_size=3)
    data = {"corpus": "builtin:fables", "val_fraction": 0.1, "note": "é"}
    created = Run.create(tmp_path / "run", model_config(tok), cfg, data, tok)
    run = Run.open(tmp_path / "run")
    assert run.train_config == cfg == created.train_config
    assert run.data_config == data
    assert run.model_config() == model_config(tok)
    assert isinstance(run.model_config(), GPTConfig)
    assert run.load_tokenizer().fingerprint() == tok.fingerprint()
    assert run.metrics_path.name == "metrics.jsonl" and run.checkpoints() == []
    assert run.latest_checkpoint() is None and run.best_checkpoint() is None
    assert sorted(p.name for p in run.path.iterdir()) == [
        "checkpoints", "data_config.json", "gptstudio-tokenizer.json", "model_config.json",
        "run.json", "train_config.json"]


def test_a_run_written_before_the_tokenizer_rename_still_opens(tmp_path, tok):
    # "tokenizer.json" is Hugging Face's name; runs now use their own, old runs keep working.
    run = Run.create(tmp_path / "run", model_config(tok), TrainConfig(), {}, tok)
    run.tokenizer_path.rename(run.path / "tokenizer.json")
    reopened = Run.open(run.path)
    assert reopened.tokenizer_path.name == "tokenizer.json"
    assert reopened.load_tokenizer().fingerprint() == tok.fingerprint()
    Run.delete(run.path)  # the old name is the run's own file too
    assert not run.path.exists()


def test_save_train_config_updates_the_stored_config(tmp_path, tok):
    run = Run.create(tmp_path / "run", model_config(tok), TrainConfig(), {}, tok)
    run.save_train_config(TrainConfig(max_steps=5000))
    assert Run.open(run.path).train_config.max_steps == 5000


def test_create_refuses_existing_runs_non_empty_folders_and_bad_configs(tmp_path, tok):
    Run.create(tmp_path / "run", model_config(tok), TrainConfig(), {}, tok)
    with pytest.raises(CheckpointError, match="already holds a run"):
        Run.create(tmp_path / "run", model_config(tok), TrainConfig(), {}, tok)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file.txt").write_text("x")
    with pytest.raises(CheckpointError, match="not an empty folder"):
        Run.create(tmp_path / "busy", model_config(tok), TrainConfig(), {}, tok)
    with pytest.raises(ConfigError, match="data config cannot be saved as JSON"):
        Run.create(tmp_path / "new", model_config(tok), TrainConfig(), {"x": object()}, tok)
    with pytest.raises(ConfigError, match="TrainConfig"):
        Run.create(tmp_path / "new2", model_config(tok), {"max_steps": 3}, {}, tok)
    Run.create(tmp_path / "empty", model_config(tok), TrainConfig(), {}, tok)  # empty is fine


def test_opening_something_that_is_not_a_run_says_so(tmp_path, tok):
    with pytest.raises(CheckpointError, match="not a folder"):
        Run.open(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(CheckpointError, match=r"not a GPT Studio run folder \(run.json is missing"):
        Run.open(tmp_path / "plain")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "run.json").write_text('{"format": "something-else"}')
    with pytest.raises(CheckpointError, match="foreign"):
        Run.open(tmp_path / "foreign")
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match="not a folder"):
        Run.open(tmp_path / "file")


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (lambda p: (p / "train_config.json").write_text('{"bogus": 1}'), "Unknown training"),
        (lambda p: (p / "train_config.json").write_text("{"), "damaged"),
        (lambda p: (p / "model_config.json").unlink(), "model_config.json is missing"),
        (lambda p: (p / "data_config.json").write_text("[1]"), "not an object"),
        (lambda p: (p / "gptstudio-tokenizer.json").unlink(), "tokenizer.json is missing"),
        (lambda p: (p / "run.json").write_text('{"format": "gptstudio-run", "version": 7}'),
         "newer"),
    ],
)
def test_a_damaged_run_gives_a_clear_error(tmp_path, tok, damage, words):
    run = Run.create(tmp_path / "run", model_config(tok), TrainConfig(), {}, tok)
    damage(run.path)
    with pytest.raises(CheckpointError, match=words):
        Run.open(run.path)


def test_a_bad_model_config_in_a_run_is_reported_on_use(tmp_path, tok):
    run = Run.create(tmp_path / "run", model_config(tok), TrainConfig(), {}, tok)
    (run.path / "model_config.json").write_text('{"arch": "gpt", "vocab_size": 0}')
    with pytest.raises(CheckpointError, match="model_config.json"):
        Run.open(run.path).model_config()


def test_opening_a_run_removes_temp_files_of_dead_writers(tmp_path, tok):
    run = Run.create(tmp_path / "run", model_config(tok), TrainConfig(), {}, tok)
    stale = run.checkpoints_dir / ".tmp-step-00000005-999999999-abcd"
    stale.mkdir()
    (run.path / ".metrics.json.tmp-999999999-ab").write_text("x")
    Run.open(run.path)
    assert not stale.exists() and not (run.path / ".metrics.json.tmp-999999999-ab").exists()


# --- Run.exists / Run.delete ------------------------------------------------------------------


def a_run_with_everything(path, tok) -> Run:
    """A run with metrics, a checkpoint and the temp file of a write that never finished."""
    run = Run.create(path, model_config(tok), TrainConfig(), {}, tok)
    run.log(StatusEvent("running", "go", 0))
    save_checkpoint(run.checkpoints_dir, 1, build_model(model_config(tok)), {},
                    model_config=model_config(tok).to_dict())
    (run.path / ".metrics.jsonl.tmp-999999999-ab").write_text("half")
    assert run.latest_checkpoint() is not None
    return run


def test_exists_says_whether_a_folder_holds_a_run(tmp_path, tok):
    assert not Run.exists(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    assert not Run.exists(tmp_path / "plain")
    (tmp_path / "file").write_text("x")
    assert not Run.exists(tmp_path / "file")
    Run.create(tmp_path / "run", model_config(tok), TrainConfig(), {}, tok)
    assert Run.exists(tmp_path / "run") and Run.exists(str(tmp_path / "run"))


def test_delete_removes_a_run_and_its_folder(tmp_path, tok):
    run = a_run_with_everything(tmp_path / "run", tok)
    Run.delete(run.path)
    assert not run.path.exists() and not Run.exists(run.path)


def test_delete_keeps_the_users_own_files_and_their_folder(tmp_path, tok):
    run = a_run_with_everything(tmp_path / "run", tok)
    (run.path / "notes.txt").write_text("mine")
    (run.path / "exports").mkdir()
    Run.delete(run.path)
    assert sorted(p.name for p in run.path.iterdir()) == ["exports", "notes.txt"]
    assert not Run.exists(run.path)


def test_delete_refuses_what_is_not_a_run_and_removes_nothing(tmp_path, tok):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "metrics.jsonl").write_text("someone else's")
    with pytest.raises(CheckpointError, match="not a GPT Studio run folder"):
        Run.delete(tmp_path / "plain")
    assert (tmp_path / "plain" / "metrics.jsonl").read_text() == "someone else's"
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "run.json").write_text('{"format": "something-else"}')
    with pytest.raises(CheckpointError, match="foreign"):
        Run.delete(tmp_path / "foreign")
    assert (tmp_path / "foreign" / "run.json").exists()
    with pytest.raises(CheckpointError):
        Run.delete(tmp_path / "missing")


def test_a_delete_killed_half_way_can_be_finished(tmp_path, tok):
    run = a_run_with_everything(tmp_path / "run", tok)
    # What a kill during the delete leaves: the marker (removed last) and some of the rest.
    run.checkpoints_dir.rename(run.path / ".delete-checkpoints-999999999-abcd")
    run.tokenizer_path.unlink()
    run.metrics_path.unlink()
    assert Run.exists(run.path)
    Run.delete(run.path)
    assert not run.path.exists()


def test_create_with_replace_puts_a_new_run_in_place_of_the_old(tmp_path, tok):
    old = a_run_with_everything(tmp_path / "run", tok)
    (old.path / "notes.txt").write_text("mine")
    new = Run.create(old.path, model_config(tok), TrainConfig(max_steps=7), {"new": True}, tok,
                     replace=True)
    assert new.latest_checkpoint() is None and new.read_metrics() == []
    assert Run.open(old.path).train_config.max_steps == 7
    assert (old.path / "notes.txt").read_text() == "mine"
    # Bad configs are refused before anything is deleted.
    with pytest.raises(ConfigError):
        Run.create(old.path, model_config(tok), TrainConfig(), {"x": object()}, tok, replace=True)
    assert Run.open(old.path).data_config == {"new": True}
    # Without a run there, replace changes nothing: a non-empty folder is still refused.
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file.txt").write_text("x")
    with pytest.raises(CheckpointError, match="not an empty folder"):
        Run.create(tmp_path / "busy", model_config(tok), TrainConfig(), {}, tok, replace=True)


# --- metrics.jsonl -------------------------------------------------------------------------


def test_metrics_can_be_read_while_training_runs(tmp_path):
    rng = random.Random(0)
    text = " ".join(rng.choice(["ab", "cd", "ef", "gh"]) for _ in range(2000))
    tok = CharTokenizer.from_text(text)
    ids = np.array(tok.encode(text), dtype=np.uint16)
    cfg = TrainConfig(max_steps=5, batch_size=2, eval_interval=0, eval_iters=1,
                      sample_interval=0, checkpoint_interval=0, precision="fp32", compile="off")
    run = Run.create(tmp_path / "run", model_config(tok), cfg, {}, tok)
    torch.manual_seed(0)
    trainer = Trainer(build_model(model_config(tok)), tok, ids[:3000], ids[3000:], cfg, run=run)
    for event in trainer.events():
        # The generator is suspended here, mid-run: the file already holds this very event.
        on_disk = read_metrics(run.metrics_path)
        assert on_disk[-1] == event
        if isinstance(event, StepEvent) and event.step == 3:
            assert [e.step for e in on_disk if isinstance(e, StepEvent)] == [1, 2, 3]
    assert read_metrics(run.metrics_path)[-1].state == "finished"


def test_a_truncated_last_line_is_skipped_and_the_next_writer_cuts_it_off(tmp_path, tok):
    run = Run.create(tmp_path / "run", model_config(tok), TrainConfig(), {}, tok)
    first = [StatusEvent("running", "go", 0), WarningEvent(1, "hmm")]
    for event in first:
        run.log(event)
    full_line = json.dumps({"event": "warning", "step": 2, "message": "cut here"})
    with open(run.metrics_path, "a", encoding="utf-8") as f:
        f.write(full_line[: len(full_line) // 2])  # a writer killed mid-line
    assert read_metrics(run.metrics_path) == first

    resumed = Run.open(run.path)  # a new process appends after the damage
    resumed.log(WarningEvent(3, "after"))
    assert read_metrics(run.metrics_path) == [*first, WarningEvent(3, "after")]
    lines = run.metrics_path.read_text(encoding="utf-8").splitlines()
    # The half line is gone: every line is whole JSON, so line readers (pandas too) accept it.
    assert len(lines) == 3 and [json.loads(line)["step"] for line in lines] == [0, 1, 3]


def test_steps_trained_again_after_a_resume_appear_once_with_the_kept_values(tmp_path, tok):
    run = Run.create(tmp_path / "run", model_config(tok), TrainConfig(), {}, tok)
    def step(n, loss):
        return StepEvent(step=n, loss=loss, lr=1e-3, grad_norm=1.0, tokens_per_sec=1.0,
                         tokens_seen=n, elapsed=0.1, eta=0.0)
    session_1 = [StatusEvent("running", "Starting", 0), step(1, 3.0), step(2, 2.9),
                 WarningEvent(2, "checkpointed at 2"), step(3, 2.8), step(4, 2.7)]  # killed
    session_2 = [StatusEvent("running", "Resuming", 2), step(3, 2.75), step(4, 2.65),
                 StatusEvent("finished", "done", 4)]
    for event in session_1 + session_2:
        run.log(event)
    events = read_metrics(run.metrics_path)
    steps = [(e.step, e.loss) for e in events if isinstance(e, StepEvent)]
    assert steps == [(1, 3.0), (2, 2.9), (3, 2.75), (4, 2.65)]
    assert events == session_1[:4] + session_2


def test_read_metrics_of_a_missing_file_is_empty(tmp_path):
    assert read_metrics(tmp_path / "nothing.jsonl") == []
