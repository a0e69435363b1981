"""Attention recorded during training: the hook's schedule, the files in the run folder (reloaded
equal, damaged ones refused clearly), and replaying a run at a step (`run_attention`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gptstudio.core.attention import (
    AUTO_STEPS, AttentionRecorded, AttentionRecorder, check_every, default_probe,
    inspect_prompt, list_records, load_record, record_prompt,
)
from gptstudio.core.attention.run_views import run_attention
from gptstudio.core.errors import CheckpointError, ConfigError
from gptstudio.core.model import LSTMConfig, build_model, from_preset
from gptstudio.core.train import Run, StepEvent, TrainConfig, Trainer, WarningEvent, \
    load_checkpoint
from tests.tiny_runs import one_thread, word_salad_splits  # noqa: F401 - one_thread is active here

WORDS = "the cat sat on a mat and saw one small red fox run far away from home".split()
PROBE = "the cat sat on"


@pytest.fixture(scope="module")
def data():
    return word_salad_splits(WORDS, seed=0, n_words=3000)


def nano(tok):
    torch.manual_seed(0)
    return build_model(from_preset("nano", vocab_size=tok.vocab_size, block_size=16,
                                   dropout=0.1))


def config(**overrides) -> TrainConfig:
    base = dict(max_steps=8, batch_size=4, warmup_steps=2, eval_interval=0, eval_iters=2,
                sample_interval=0, checkpoint_interval=4, precision="fp32", compile="off")
    return TrainConfig(**{**base, **overrides})


def train(path, data, model, hooks=(), **overrides):
    tok, train_ids, val_ids = data
    cfg = config(**overrides)
    run = Run.open(path) if Run.exists(path) else Run.create(path, model.config, cfg, {}, tok)
    trainer = Trainer(model, tok, train_ids, val_ids, cfg, run=run, hooks=hooks)
    return run, [e for e in trainer.events()]


def test_records_are_written_every_n_steps_and_reload_equal(tmp_path, data):
    seen = []
    recorder = AttentionRecorder(tmp_path / "run", PROBE, 3, report=seen.append)
    run, events = train(tmp_path / "run", data, nano(data[0]), hooks=(recorder,))
    records = list_records(run.attention_dir)
    assert [r.step for r in records] == [1, 3, 6] == recorder.recorded  # first step, then every 3
    assert [e.step for e in seen] == [1, 3, 6] and all(isinstance(e, AttentionRecorded)
                                                       for e in seen)
    for event, info in zip(seen, records):
        loaded = load_record(info.path)
        assert loaded.step == event.step and loaded.prompt == PROBE
        assert loaded.view.maps.tokens == event.record.view.maps.tokens == tuple(PROBE)
        for a, b in zip(loaded.view.maps.weights, event.record.view.maps.weights):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(loaded.view.next_tokens.ids,
                                      event.record.view.next_tokens.ids)
        np.testing.assert_array_equal(loaded.view.next_tokens.probs,
                                      event.record.view.next_tokens.probs)
        assert loaded.view.next_tokens.pieces == event.record.view.next_tokens.pieces
        assert record_prompt(info.path) == PROBE


def test_a_record_is_what_the_checkpoint_of_that_step_sees_and_recording_changes_nothing(
        tmp_path, data):
    recorder = AttentionRecorder(tmp_path / "rec", PROBE, 4)
    run, with_events = train(tmp_path / "rec", data, nano(data[0]), hooks=(recorder,))
    _, plain_events = train(tmp_path / "plain", data, nano(data[0]))
    losses = [e.loss for e in with_events if isinstance(e, StepEvent)]
    assert losses == [e.loss for e in plain_events if isinstance(e, StepEvent)]
    model = nano(data[0])
    load_checkpoint(run.checkpoints_dir / "step-00000004", model)
    expected = inspect_prompt(model.eval(), data[0], PROBE, step=4)
    record = load_record(list_records(run.attention_dir)[1].path)
    assert record.step == 4
    for ours, theirs in zip(record.view.maps.weights, expected.maps.weights):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_auto_moves_to_longer_intervals_when_recording_costs_too_much(tmp_path, data):
    cheap = AttentionRecorder(tmp_path / "a", PROBE, None, budget=1e9)  # any cost is fine
    costly = AttentionRecorder(tmp_path / "b", PROBE, None, budget=1e-12)  # no cost is
    train(tmp_path / "a", data, nano(data[0]), hooks=(cheap,), max_steps=30)
    train(tmp_path / "b", data, nano(data[0]), hooks=(costly,), max_steps=30)
    assert cheap.recorded == [1, 10, 20, 30] and cheap.every == AUTO_STEPS[0]
    assert costly.recorded == [1, 10] and costly.every == AUTO_STEPS[-1]
    with pytest.raises(ConfigError):
        check_every(0)


def test_a_resumed_run_drops_the_records_of_the_steps_it_trains_again(tmp_path, data):
    path = tmp_path / "run"
    train(path, data, nano(data[0]), hooks=(AttentionRecorder(path, PROBE, 2),))
    run = Run.open(path)
    assert [r.step for r in list_records(run.attention_dir)] == [1, 2, 4, 6, 8]
    # Resume from step 4: steps 5.. are trained again, so their records go first.
    model = nano(data[0])
    loaded = load_checkpoint(run.checkpoints_dir / "step-00000004", model)
    tok, train_ids, val_ids = data
    recorder = AttentionRecorder(path, PROBE, 3)
    trainer = Trainer(model, tok, train_ids, val_ids, config(max_steps=6), run=run,
                      hooks=(recorder,), start_state=loaded)
    for _ in trainer.events():
        pass
    assert [r.step for r in list_records(run.attention_dir)] == [1, 2, 4, 5, 6]


def test_an_lstm_or_a_foreign_probe_warns_once_and_training_goes_on(tmp_path, data):
    tok = data[0]
    lstm = build_model(LSTMConfig(vocab_size=tok.vocab_size, n_embd=8, n_hidden=8, n_layer=1,
                                  block_size=16))
    said = []
    run, events = train(tmp_path / "lstm", data, lstm,
                        hooks=(AttentionRecorder(tmp_path / "lstm", PROBE, 1, report=said.append),))
    assert len(said) == 1 and isinstance(said[0], WarningEvent) and "LSTM" in said[0].message
    assert sum(isinstance(e, StepEvent) for e in events) == 8 and not run.attention_dir.exists()
    said.clear()
    train(tmp_path / "zebra", data, nano(tok),
          hooks=(AttentionRecorder(tmp_path / "zebra", "Zebra", 1, report=said.append),))
    assert len(said) == 1 and "'Z'" in said[0].message


def test_damaged_record_files_are_refused_with_their_name(tmp_path, data):
    recorder = AttentionRecorder(tmp_path / "run", PROBE, 4)
    run, _ = train(tmp_path / "run", data, nano(data[0]), hooks=(recorder,), max_steps=4)
    first, last = list_records(run.attention_dir)
    last.path.write_bytes(last.path.read_bytes()[:200])  # truncated
    with pytest.raises(CheckpointError, match=f"{last.path.name}.*damaged.*delete it"):
        load_record(last.path)
    first.path.write_bytes(b"not a safetensors file at all")
    with pytest.raises(CheckpointError, match="damaged"):
        load_record(first.path)
    with pytest.raises(CheckpointError, match="damaged"):
        record_prompt(first.path)
    with pytest.raises(CheckpointError, match="damaged"):
        run_attention(run.path)  # the latest record is the truncated one


def test_run_attention_reads_checkpoints_and_records_and_explains_what_is_missing(tmp_path, data):
    path = tmp_path / "run"
    run, _ = train(path, data, nano(data[0]), hooks=(AttentionRecorder(path, PROBE, 3),))
    latest = run_attention(path, prompt="the mat")
    assert latest.source == "checkpoint" and latest.step == 8 and latest.run_dir == run.path
    assert run_attention(path, prompt="the mat", step=4).step == 4
    recorded = run_attention(path)  # no prompt: the probe recorded last
    assert (recorded.source, recorded.step, recorded.prompt) == ("record", 6, PROBE)
    assert run_attention(path, prompt=PROBE, step=3).source == "record"  # no checkpoint at 3
    with pytest.raises(ConfigError, match="no checkpoint at step 5; checkpoints: 0, 4, 8"):
        run_attention(path, prompt="the mat", step=5)
    with pytest.raises(ConfigError, match="recorded steps: 1, 3, 6"):
        run_attention(path, step=2)
    empty = Run.create(tmp_path / "empty", nano(data[0]).config, config(), {}, data[0])
    with pytest.raises(CheckpointError, match="no checkpoint yet"):
        run_attention(empty.path, prompt="the")
    with pytest.raises(ConfigError, match="no attention recorded"):
        run_attention(empty.path)
    lstm = Run.create(tmp_path / "lstm", LSTMConfig(vocab_size=data[0].vocab_size), config(), {},
                      data[0])
    with pytest.raises(ConfigError, match="LSTM"):
        run_attention(lstm.path, prompt="the")


def test_deleting_a_run_deletes_its_records(tmp_path, data):
    path = tmp_path / "run"
    train(path, data, nano(data[0]), hooks=(AttentionRecorder(path, PROBE, 4),), max_steps=4)
    (path / "notes.txt").write_text("mine")
    Run.delete(path)
    assert sorted(p.name for p in path.iterdir()) == ["notes.txt"]


def test_the_default_probe_is_a_corpus_line_the_tokenizer_can_read(data):
    tok = data[0]
    text = "Title\n\n" + "the cat sat on a mat and saw one small red fox run far away\n"
    probe = default_probe(text, tok, max_tokens=20)
    assert probe == "the cat sat on a" and len(tok.encode(probe)) <= 20
    assert default_probe("Title\n", tok) == ""  # "T" is not in this vocabulary
