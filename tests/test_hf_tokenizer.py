"""The Hugging Face export is usable, not just loadable: `AutoTokenizer` gives our ids and decodes
exactly, and `pipeline("text-generation")` continues a prompt as our greedy sampler does."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gptstudio.core.hf_gpt2 import export_hf_gpt2
from gptstudio.core.hf_tokenizer import byte_to_unicode, export_hf_tokenizer
from gptstudio.core.model import build_model, from_preset
from gptstudio.core.sampling import SamplingConfig, generate
from gptstudio.core.tokenizers import BPETokenizer, CharTokenizer, TiktokenTokenizer

transformers = pytest.importorskip("transformers")

TRICKY = (" naïve café 日本語 ✓<|endoftext|>  tabs\t\tand   spaces\n\n\nend's 1234567 x")


@pytest.fixture(scope="module")
def text(shared_data: Path) -> str:
    return (shared_data / "tinyshakespeare.txt").read_text(encoding="utf-8")[:20_000]


def test_the_byte_alphabet_is_gpt2s():
    table = byte_to_unicode()
    assert len(set(table.values())) == 256  # one stand-in per byte
    assert all(not c.isspace() and c.isprintable() for c in table.values())


@pytest.mark.parametrize("kind", ["bpe-gpt2", "bpe-gpt4", "char", "gpt2-ranks"])
def test_auto_tokenizer_gives_our_ids_and_decodes_exactly(tmp_path, text, shared_data, kind):
    if kind == "char":
        tok = CharTokenizer.from_text(text + TRICKY.replace("<|endoftext|>", ""))
    elif kind == "gpt2-ranks":  # GPT-2's real ranks: tiktoken's own encoding is the oracle
        tok = TiktokenTokenizer.from_file(shared_data / "gpt2.tiktoken")
    else:
        tok = BPETokenizer.train(text, 400, pattern=kind.split("-")[1])
    export_hf_tokenizer(tok, tmp_path)
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path)
    sample = text[5_000:9_000] + TRICKY
    ids = tok.encode(sample, allowed_special="all")
    assert hf.encode(sample) == ids
    assert hf.decode(ids) == sample
    assert hf.eos_token == "<|endoftext|>" and hf.eos_token_id == tok.eot_id


def test_the_text_generation_pipeline_gives_our_greedy_continuation(tmp_path, text):
    tok = BPETokenizer.train(text, 320)
    torch.manual_seed(0)
    model = build_model(from_preset("nano", n_layer=2, n_head=2, n_embd=32, block_size=64,
                                    vocab_size=tok.vocab_size)).eval()
    export_hf_gpt2(model, tmp_path, tokenizer=tok)
    assert (tmp_path / "generation_config.json").is_file()
    prompt = "First Citizen:\nBefore we"
    ours = generate(model, tok, prompt, SamplingConfig(max_new_tokens=20, temperature=0,
                                                       stop_at_eot=False))
    pipe = transformers.pipeline("text-generation", model=str(tmp_path), device="cpu")
    out = pipe(prompt, max_new_tokens=20, do_sample=False, return_full_text=False)
    theirs = out[0]["generated_text"]
    # The same 20 tokens (unless one of them is the end of text, where both stop).
    assert theirs == ours[: len(theirs)] and len(theirs) > 0


def test_the_cli_export_writes_a_folder_auto_tokenizer_reads(tmp_path, text):
    from gptstudio.cli import main
    from gptstudio.core.corpora import Corpus
    from gptstudio.core.pipeline import prepare_new_training
    from gptstudio.core.train import TrainConfig

    tok = BPETokenizer.train(text, 300)
    config = TrainConfig(max_steps=2, batch_size=2, eval_interval=0, eval_iters=1,
                         sample_interval=0, warmup_steps=1, precision="fp32", compile="off")
    model = from_preset("nano", n_layer=1, n_head=2, n_embd=16, block_size=16)
    prepared = prepare_new_training(tmp_path / "run", Corpus("s", "s", text=text), tok, model,
                                    config)
    for _ in prepared.trainer.events():
        pass
    assert main(["export", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "hf")]) == 0
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    assert hf.encode("The fox, the well.") == tok.encode("The fox, the well.")


def test_an_export_into_a_run_folder_is_refused_and_an_old_export_kept(tmp_path, text):
    from gptstudio.cli import main
    from gptstudio.core.corpora import Corpus
    from gptstudio.core.pipeline import load_trained_model, prepare_new_training
    from gptstudio.core.train import Run, TrainConfig

    tok = BPETokenizer.train(text, 300)
    config = TrainConfig(max_steps=2, batch_size=2, eval_interval=0, eval_iters=1,
                         sample_interval=0, warmup_steps=1, precision="fp32", compile="off")
    model = from_preset("nano", n_layer=1, n_head=2, n_embd=16, block_size=16)
    run_dir = tmp_path / "run"
    for _ in prepare_new_training(run_dir, Corpus("s", "s", text=text), tok, model,
                                  config).trainer.events():
        pass
    for out in (run_dir, run_dir / "exported"):
        assert main(["export", "--run", str(run_dir), "--out", str(out)]) == 1  # a runtime failure
    assert sorted(p.name for p in run_dir.iterdir()) == sorted(
        p.name for p in Run.open(run_dir).path.iterdir())  # nothing was written into the run
    assert not (run_dir / "model.safetensors").exists()
    out = tmp_path / "hf"
    assert main(["export", "--run", str(run_dir), "--out", str(out)]) == 0
    assert main(["export", "--run", str(run_dir), "--out", str(out)]) == 1  # no silent overwrite
    assert main(["export", "--run", str(run_dir), "--out", str(out), "--force"]) == 0
    # A run folder holding stray files (an export from before this check) still loads.
    (run_dir / "model.safetensors").write_bytes((out / "model.safetensors").read_bytes())
    (run_dir / "config.json").write_text("{}", encoding="utf-8")
    assert load_trained_model(run_dir)[0].path == run_dir
