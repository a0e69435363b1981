"""Instruction fine-tuning: batches as the book's collate makes them, masked targets that add
nothing to the loss or the gradients, the one Trainer learning the responses, held-out answers
saved beside their references, exact resume, and the run used like any other."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from gptstudio.core.finetune import (
    PHI3_TEMPLATE,
    FinetuneSpec,
    LoRAConfig,
    encode_records,
    format_instruction,
    held_out_responses,
    read_records,
    split_records,
)
from gptstudio.core.finetune.instructions import response_loss
from gptstudio.core.model import GPTConfig, build_model
from gptstudio.core.corpora import Corpus
from gptstudio.core.pipeline import (
    evaluate_run,
    load_trained_model,
    prepare_finetune,
    prepare_new_training,
    prepare_resumed_training,
)
from gptstudio.core.sampling import SamplingConfig, generate
from gptstudio.core.train import EvalEvent, StepEvent, TrainControl
from tests.finetune_runs import base_run, char_tokenizer, instruction_json, quick_config
from tests.tiny_runs import one_thread  # noqa: F401 - one_thread is active here


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return base_run(tmp_path_factory.mktemp("base") / "base", dropout=0.1)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    return instruction_json(tmp_path_factory.mktemp("data") / "records.json")


def encoded(records, *, mask_prompt=True, template=None):
    splits = split_records(read_records(records), val_fraction=0.1, test_fraction=0.1)
    options = {"template": template} if template else {}
    return encode_records(splits, char_tokenizer(), block_size=256, mask_prompt=mask_prompt,
                          **options)


def books_collate(batch, pad_token_id, ignore_index=-1):
    """The book's `custom_collate_fn` (chapter 7), for sequences already ending in eot."""
    longest = max(len(item) for item in batch)
    inputs, targets = [], []
    for item in batch:
        padded = item + [pad_token_id] * (longest - len(item))
        x, y = torch.tensor(padded[:-1]), torch.tensor(padded[1:])
        pads = torch.nonzero(y == pad_token_id).squeeze()
        if pads.numel() > 1:
            y[pads[1:]] = ignore_index  # all padding but the first: the real end-of-text
        inputs.append(x)
        targets.append(y)
    return torch.stack(inputs), torch.stack(targets)


def test_batches_are_padded_per_batch_as_the_books_collate_does(records):
    train = encoded(records, mask_prompt=False).splits["train"]
    eot = char_tokenizer().eot_id
    for indices in ([0, 1, 2], [5, 3]):
        x, y = train.batch(indices)
        # Our sequences carry their end-of-text; the book's collate adds one, then pads.
        seqs = [train.sequences[i][:-1].tolist() + [eot] for i in indices]
        bx, by = books_collate(seqs, eot)
        assert torch.equal(x, bx) and torch.equal(y, by)
        assert x.shape[1] == max(len(train.sequences[i]) for i in indices) - 1


def test_masked_targets_add_nothing_to_the_loss_or_the_gradients(records):
    train = encoded(records).splits["train"]
    x, y = train.batch([0, 1, 2, 3])
    for row, i in enumerate([0, 1, 2, 3]):
        n = train.prompt_lengths[i]
        assert (y[row, : n - 1] == -1).all() and (y[row, n - 1:] != -1).any()
        assert y[row, len(train.sequences[i]) - 2] == char_tokenizer().eot_id  # stop token
    torch.manual_seed(0)
    model = build_model(GPTConfig(char_tokenizer().vocab_size, block_size=256, n_layer=1,
                                  n_head=2, n_embd=16)).eval()
    out = model(x, y)
    logits = out.logits
    logits.retain_grad()
    out.loss.backward()
    counted = y != -1
    # Oracle: the mean cross-entropy over the response positions only, recomputed by hand.
    log_probs = F.log_softmax(logits.detach(), dim=-1)
    oracle = -log_probs[counted].gather(1, y[counted][:, None]).mean()
    torch.testing.assert_close(out.loss.detach(), oracle, rtol=1e-6, atol=1e-6)
    assert (logits.grad[~counted] == 0).all()  # a masked position sends no gradient back
    assert (logits.grad[counted].abs().sum(-1) > 0).all()

    with_prompt = encoded(records, mask_prompt=False).splits["train"]
    _, y_all = with_prompt.batch([0, 1, 2, 3])
    assert int((y_all != -1).sum()) == int(counted.sum()) + sum(
        train.prompt_lengths[i] - 1 for i in range(4))


def test_the_phi3_template_frames_the_same_record(records):
    data = encoded(records, template=PHI3_TEMPLATE)
    seq, n = data.splits["train"].sequences[0], data.splits["train"].prompt_lengths[0]
    record = data.records.train[0]
    assert char_tokenizer().decode(seq[:n].tolist()) == \
        f"<|user|>\n{record.instruction}" + (f"\n{record.input}" if record.input else "") + \
        "\n<|assistant|>\n"


def run_to_end(prepared):
    return list(prepared.trainer.events())


def test_instruction_fine_tuning_learns_and_answers_held_out_records(base, records, tmp_path):
    spec = FinetuneSpec("instructions", str(records), val_fraction=0.1, test_fraction=0.1)
    prepared = prepare_finetune(tmp_path / "ft", base, spec,
                                quick_config(max_steps=30, eval_interval=15))
    events = run_to_end(prepared)
    evals = [e for e in events if isinstance(e, EvalEvent)]
    assert [e.step for e in evals] == [0, 15, 30]
    assert evals[-1].val_loss < 0.7 * evals[0].val_loss  # the response loss, before and after
    assert prepared.run.data_config["task"] == "instructions"

    report = held_out_responses(prepared.run.path, max_new_tokens=12)
    saved = json.loads(prepared.run.responses_path.read_text(encoding="utf-8"))
    assert len(saved["responses"]) == len(prepared.data.records.test) == 4
    first = saved["responses"][0]
    record = prepared.data.records.test[0]
    assert first["reference"] == record.output and first["instruction"] == record.instruction
    _, lm, tok = load_trained_model(prepared.run.path)  # the same greedy answer, by hand
    by_hand = generate(lm, tok, format_instruction(record.instruction, record.input),
                       SamplingConfig(max_new_tokens=12, temperature=0.0,
                                      stop_strings=("\n\n###",)))
    assert first["response"] == by_hand.strip()
    assert saved["response_loss"] == pytest.approx(report.response_loss)
    test_loss = response_loss(lm, prepared.data.splits["test"], batch_size=8)
    assert report.response_loss == pytest.approx(test_loss, rel=1e-5)
    assert 0.0 <= report.mean_overlap_f1 <= 1.0
    assert evaluate_run(prepared.run.path).loss == pytest.approx(
        response_loss(lm, prepared.data.splits["val"], batch_size=32), rel=1e-5)


def test_a_lora_instruction_fine_tune_resumes_bit_for_bit(base, records, tmp_path):
    spec = FinetuneSpec("instructions", str(records), lora=LoRAConfig(rank=2, alpha=8,
                                                                      dropout=0.1))

    def record(events):
        return [(e.step, e.loss, e.grad_norm) if isinstance(e, StepEvent)
                else (e.step, e.train_loss, e.val_loss) for e in events
                if isinstance(e, (StepEvent, EvalEvent))]

    expected = record(run_to_end(prepare_finetune(tmp_path / "a", base, spec, quick_config())))
    control = TrainControl()
    prepared = prepare_finetune(tmp_path / "b", base, spec, quick_config(), control=control)
    prepared.trainer.hooks = (lambda model, step: control.stop() if step == 7 else None,)
    first = record(run_to_end(prepared))
    second = record(run_to_end(prepare_resumed_training(tmp_path / "b")))
    assert [r for r in first if r[0] <= 7] + [r for r in second if r[0] > 7] == expected
    assert prepared.n_trainable < 0.1 * prepared.n_params
    assert prepared.run.adapter_path.is_file()
    _, lm, tok = load_trained_model(tmp_path / "b")  # merged: a plain GPT
    assert not any("lora" in name for name in lm.state_dict())
    # A fine-tune is a base like any run: pretraining goes on from its merged weights.
    more = prepare_new_training(tmp_path / "c", Corpus("c", "memory", text="abc abd " * 800),
                                tok, lm.config, quick_config(), init_from=tmp_path / "b")
    ids = torch.randint(0, tok.vocab_size, (1, 12))
    with torch.no_grad():
        torch.testing.assert_close(more.model.eval()(ids).logits, lm(ids).logits, rtol=0,
                                   atol=0)


def test_the_template_is_the_books_format_input(shared_data):
    def format_input(entry):  # the book's chapter 7, as printed
        instruction_text = (
            f"Below is an instruction that describes a task. "
            f"Write a response that appropriately completes the request."
            f"\n\n### Instruction:\n{entry['instruction']}"
        )
        input_text = f"\n\n### Input:\n{entry['input']}" if entry["input"] else ""
        return instruction_text + input_text

    for entry in json.loads((shared_data / "instruction-data.json").read_text()):
        assert format_instruction(entry["instruction"], entry["input"]) == \
            format_input(entry) + "\n\n### Response:\n"
