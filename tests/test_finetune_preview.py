"""The fine-tune preview (core.finetune.preview): the trainable count of a model built on the
meta device equals a real model's, and the masked example is the trainer's own batch."""

from __future__ import annotations

import pytest
import torch

from gptstudio.core.errors import ConfigError
from gptstudio.core.finetune import FinetunedGPT, FinetuneSpec, LoRAConfig, count_parameters, \
    set_trainable
from gptstudio.core.finetune.preview import preview_finetune, trainable_parameters
from gptstudio.core.finetune.template import ALPACA_TEMPLATE
from gptstudio.core.model import GPTConfig, build_model
from gptstudio.core.train import Run
from tests.finetune_runs import base_run, char_tokenizer, instruction_json, separable_tsv


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("preview")
    return (base_run(root / "base"), separable_tsv(root / "w.tsv", n=40),
            instruction_json(root / "r.json", n=30))


def real_count(config: GPTConfig, spec: FinetuneSpec, n_classes):
    torch.manual_seed(0)
    model = FinetunedGPT(build_model(config), n_classes=n_classes, pooling=spec.pooling)
    set_trainable(model, train_last=spec.train_last, lora=spec.lora)
    return count_parameters(model)


@pytest.mark.parametrize("train_last,lora,n_classes", [
    (None, None, 3), (1, None, 2), (0, None, 2), (2, LoRAConfig(rank=4), 2),
    (1, LoRAConfig(rank=2, targets=("attn.c_attn",)), 2), (None, None, None),
    (None, LoRAConfig(rank=8), None)])
def test_trainable_count_on_the_meta_device_equals_a_real_models(train_last, lora, n_classes):
    config = GPTConfig(vocab_size=50, block_size=32, n_layer=2, n_head=2, n_embd=16)
    task = "classification" if n_classes else "instructions"
    spec = FinetuneSpec(task, "x", train_last=train_last, lora=lora)
    assert trainable_parameters(config, spec, n_classes) == real_count(config, spec, n_classes)


def test_a_rank_larger_than_a_layer_is_refused_with_cores_message():
    config = GPTConfig(vocab_size=50, block_size=32, n_layer=2, n_head=2, n_embd=16)
    with pytest.raises(ConfigError, match="larger than the layer"):
        trainable_parameters(config, FinetuneSpec("instructions", "x",
                                                  lora=LoRAConfig(rank=17)), None)


def test_instruction_example_masks_the_prompt_only(files):
    base, _, records = files
    preview = preview_finetune(base, FinetuneSpec("instructions", str(records)))
    example = preview.example
    first = preview_records_first(records)
    tok = char_tokenizer()
    n_prompt = len(tok.encode_ordinary(ALPACA_TEMPLATE.format(first.instruction, first.input)))
    assert example.trained == (False,) * n_prompt + (True,) * (len(example.ids) - n_prompt)
    assert example.kinds[-1] == "end" and example.pieces[-1] == "<|endoftext|>"
    assert "".join(example.pieces[n_prompt:-1]) == first.output
    unmasked = preview_finetune(base, FinetuneSpec("instructions", str(records),
                                                   mask_prompt=False)).example
    assert unmasked.trained == (False,) + (True,) * (len(example.ids) - 1)  # all but the first


def preview_records_first(path):
    from gptstudio.core.finetune import read_records, split_records

    return split_records(read_records(path), val_fraction=0.05, test_fraction=0.1,
                         seed=123).train[0]


def test_classification_example_marks_what_the_head_reads(files):
    base, tsv, _ = files
    last = preview_finetune(base, FinetuneSpec("classification", str(tsv), train_last=1))
    n_real = last.example.kinds.count("read") + last.example.kinds.count("text")
    assert last.example.trained == (False,) * (n_real - 1) + (True,) + \
        (False,) * (len(last.example.ids) - n_real)
    assert len(last.example.ids) == last.summary["max_length"]
    assert last.labels == ("early", "late") and last.n_layer == 2
    assert last.n_trainable == real_count(Run.open(base).model_config(), FinetuneSpec(
        "classification", str(tsv), train_last=1), 2)[0]
    mean = preview_finetune(base, FinetuneSpec("classification", str(tsv), pooling="mean"))
    assert mean.example.trained[:n_real] == (True,) * n_real
