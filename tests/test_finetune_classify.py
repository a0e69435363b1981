"""Classification fine-tuning through the one Trainer: it learns a separable set, frozen weights
stay bit for bit, the head reads the last real token, accuracy is reported before and during
training, a fine-tune resumes exactly, and a fine-tuned run is an ordinary run."""

from __future__ import annotations

import copy

import pytest
import torch

from gptstudio.core.errors import CheckpointError, ConfigError, DatasetError
from gptstudio.core.finetune import (
    FinetunedGPT,
    FinetuneSpec,
    LoRAConfig,
    classification_report,
    load_classifier,
    set_trainable,
)
from gptstudio.core.model import GPTConfig, build_model
from gptstudio.core.pipeline import (
    evaluate_run,
    load_trained_model,
    prepare_finetune,
    prepare_resumed_training,
)
from gptstudio.core.train import (
    AccuracyEvent,
    EvalEvent,
    StepEvent,
    TrainControl,
    read_metrics,
)
from tests.finetune_runs import base_run, quick_config, separable_tsv
from tests.tiny_runs import one_thread  # noqa: F401 - one_thread is active here


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return base_run(tmp_path_factory.mktemp("base") / "base", dropout=0.1)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return separable_tsv(tmp_path_factory.mktemp("data") / "words.tsv")


def gpt(**overrides):
    torch.manual_seed(0)
    cfg = dict(vocab_size=40, block_size=16, n_layer=3, n_head=2, n_embd=16, bias=True)
    return build_model(GPTConfig(**{**cfg, **overrides})).eval()


def test_features_are_the_forward_pass_without_its_head():
    model = FinetunedGPT(gpt(), n_classes=2)
    ids = torch.randint(0, 40, (2, 16))
    torch.testing.assert_close(model.lm_head(model.features(ids)), model(ids).logits,
                               rtol=0, atol=0)


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_padding_after_the_text_never_changes_a_prediction(pooling):
    model = FinetunedGPT(gpt(), n_classes=3, pooling=pooling).eval()
    text = torch.tensor([[5, 6, 7, 8]])
    padded = torch.tensor([[5, 6, 7, 8, 1, 1, 1], [5, 6, 7, 8, 9, 2, 3]])
    alone = model.classify(text, torch.tensor([4]))
    both = model.classify(padded, torch.tensor([4, 4]))
    torch.testing.assert_close(both, alone.expand(2, 3), rtol=0, atol=1e-6)
    if pooling == "last":  # the book's choice: the head reads the last real token's state
        expected = model.classifier(model.features(text)[0, 3])
        torch.testing.assert_close(alone[0], expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("train_last, trainable", [
    (0, ["classifier.weight", "classifier.bias"]),
    (1, ["transformer.h.2.", "transformer.ln_f.", "classifier."]),
])
def test_what_trains_is_the_last_blocks_the_final_norm_and_the_head(train_last, trainable):
    model = FinetunedGPT(gpt(tie_weights=False), n_classes=2)
    names = set_trainable(model, train_last=train_last)
    assert names and all(any(n.startswith(t) for t in trainable) for n in names)
    assert any(n.startswith("classifier.") for n in names)
    full = set_trainable(FinetunedGPT(gpt(tie_weights=False), n_classes=2), train_last=None)
    assert "transformer.wte.weight" in full and "lm_head.weight" not in full  # unused head
    with pytest.raises(ConfigError, match="has 3 blocks"):
        set_trainable(model, train_last=4)


def run_to_end(prepared):
    return list(prepared.trainer.events())


@pytest.mark.parametrize("train_last, pooling", [(1, "mean"), (None, "last")])
def test_a_separable_set_is_learned_and_frozen_weights_stay_bit_for_bit(base, data, tmp_path,
                                                                        train_last, pooling):
    spec = FinetuneSpec("classification", str(data), train_last=train_last, pooling=pooling)
    prepared = prepare_finetune(tmp_path / "ft", base, spec,
                                quick_config(max_steps=100, eval_interval=50))
    frozen = {n: p.detach().clone() for n, p in prepared.model.named_parameters()
              if not p.requires_grad}
    assert any(n.startswith("transformer.h.0.") for n in frozen) == (train_last == 1)
    trained_before = prepared.model.transformer.h[1].mlp.c_fc.weight.detach().clone()
    events = run_to_end(prepared)
    for name, param in prepared.model.named_parameters():
        if name in frozen:
            assert torch.equal(param, frozen[name]), name
    assert not torch.equal(prepared.model.transformer.h[1].mlp.c_fc.weight, trained_before)

    accuracies = [e for e in events if isinstance(e, AccuracyEvent)]
    assert accuracies[0].step == 0  # "before" figures come first
    assert accuracies[0].val_accuracy < 0.9 and accuracies[-1].val_accuracy == 1.0
    assert accuracies[0].labels == ("early", "late")
    # An evaluation reads eval_iters (2) batches (4) of each split: 8 of the 12 val examples.
    assert sum(map(sum, accuracies[-1].confusion)) == 8 < prepared.summary["n_val"]
    assert [e for e in read_metrics(prepared.run.metrics_path)
            if isinstance(e, AccuracyEvent)] == accuracies  # logged, read back equal
    evals = [e for e in events if isinstance(e, EvalEvent)]
    assert [e.step for e in evals] == [0, 50, 100] and evals[-1].val_loss < evals[0].val_loss

    report = classification_report(prepared.run.path)  # every example of each split
    assert report.n_examples == {"train": 84, "val": 12, "test": 24}
    assert report.accuracy["val"] == 1.0 and report.accuracy["test"] >= 0.95
    prediction = load_classifier(prepared.run.path).predict("nop qrs tuv")
    assert prediction.label == "late" and prediction.probabilities["late"] > 0.5
    config = prepared.run.data_config
    assert config["task"] == "classification" and config["init_from"]["run"] == str(base)
    assert evaluate_run(prepared.run.path).loss == pytest.approx(report.loss["val"], rel=1e-5)
    _, lm, _ = load_trained_model(prepared.run.path)  # the backbone as a language model
    assert type(lm).__name__ == "GPT"


def fine_tune(base, data, path, control=None, lora=None, **overrides):
    spec = FinetuneSpec("classification", str(data), train_last=None, lora=lora)
    return prepare_finetune(path, base, spec, quick_config(**overrides), control=control)


def record(events):
    out = []
    for e in events:
        if isinstance(e, StepEvent):
            out.append(("step", e.step, e.loss, e.grad_norm, e.tokens_seen))
        elif isinstance(e, (EvalEvent, AccuracyEvent)):
            out.append((type(e).__name__, e.step, *(v for k, v in vars(e).items()
                                                      if k not in ("step", "best"))))
    return out


@pytest.mark.parametrize("lora", [None, LoRAConfig(rank=2, alpha=4, dropout=0.1)])
def test_a_stopped_fine_tune_resumes_bit_for_bit(base, data, tmp_path, lora):
    expected = record(run_to_end(fine_tune(base, data, tmp_path / "whole", lora=lora)))
    control = TrainControl()
    prepared = fine_tune(base, data, tmp_path / "stopped", control=control, lora=lora)
    prepared.trainer.hooks = (lambda model, step: control.stop() if step == 6 else None,)
    first = record(run_to_end(prepared))
    resumed = prepare_resumed_training(tmp_path / "stopped")
    assert resumed.start_step == 6 and resumed.spec == prepared.spec
    second = record(run_to_end(resumed))
    # Steps 1-6, then the resumed run's steps 7-12 (its repeat of step 4's eval is not kept).
    assert [r for r in first if r[1] <= 6] + [r for r in second if r[1] > 6] == expected
    if lora is not None:
        assert (tmp_path / "stopped" / "adapter.safetensors").is_file()


def test_bad_bases_and_settings_are_clear_errors(base, data, tmp_path):
    spec = FinetuneSpec("classification", str(data))
    with pytest.raises(CheckpointError, match="not a GPT Studio run"):
        prepare_finetune(tmp_path / "ft", tmp_path, spec, quick_config())
    with pytest.raises(ConfigError, match="its own run folder"):
        prepare_finetune(base, base, spec, quick_config())
    with pytest.raises(DatasetError, match="fewer than one batch of 500"):
        prepare_finetune(tmp_path / "ft", base, spec, quick_config(batch_size=500))
    with pytest.raises(ConfigError, match="larger than the layer"):
        prepare_finetune(tmp_path / "ft", base, spec.replace(lora=LoRAConfig(rank=64)),
                         quick_config())
    assert not (tmp_path / "ft").exists()  # nothing was written
    other = base_run(tmp_path / "other-base", n_embd=16)  # a character tokenizer: no "é"
    copy_data = tmp_path / "w.tsv"
    copy_data.write_text("a\tcafé au lait\na\tthé\nb\tplain\nb\ttext\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="tokenizer cannot encode"):
        prepare_finetune(tmp_path / "ft2", other, FinetuneSpec("classification",
                                                               str(copy_data)), quick_config())


def test_changed_data_refuses_to_resume(base, data, tmp_path):
    changed = tmp_path / "copy.tsv"
    changed.write_bytes(data.read_bytes())
    prepared = fine_tune(base, changed, tmp_path / "ft", max_steps=4)
    run_to_end(prepared)
    changed.write_text(changed.read_text() + "early\tabc abc\n")
    with pytest.raises(CheckpointError, match="has changed"):
        prepare_resumed_training(tmp_path / "ft", max_steps=8)


def test_a_classifier_weights_snapshot_rebuilds_its_language_model(base, data, tmp_path):
    control = TrainControl()
    control.request_weights()
    prepared = fine_tune(base, data, tmp_path / "ft", control=control,
                         lora=LoRAConfig(rank=2, alpha=4), max_steps=1)
    snapshots = [e.snapshot for e in run_to_end(prepared) if type(e).__name__ == "WeightsEvent"]
    rebuilt = snapshots[0].to_model()  # a plain GPT: no head, the adapter merged
    ids = torch.randint(0, 40, (1, 8))
    plain = copy.deepcopy(prepared.model).eval()
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(ids).logits, plain(ids).logits, rtol=0, atol=1e-5)
