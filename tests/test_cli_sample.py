"""`gptstudio sample` (--show-probs, --json, --stop, --precision) and `gptstudio score`, end to
end, compared with the engine's own generator and scorer on the same run."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from gptstudio.cli import main
from gptstudio.core.generation import run_generation
from gptstudio.core.inference_precision import inference_model
from gptstudio.core.pipeline import load_trained_model
from gptstudio.core.sampling import SamplingConfig
from gptstudio.core.scoring import score_text
from tests.test_cli_train import SMALL
from tests.tiny_runs import one_thread  # noqa: F401 - fixture

TEXT = "the cat sat on the mat. the dog sat on the log.\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sample")
    corpus = folder / "corpus.txt"
    corpus.write_text(TEXT * 80, encoding="utf-8")
    run = folder / "run"
    assert main(["train", "--corpus", str(corpus), "--tokenizer", "char", *SMALL,
                 "--run-dir", str(run), "--quiet", "--max-steps", "30"]) == 0
    return run


def sample(run_dir: Path, *extra: str) -> list[str]:
    return ["sample", "--run", str(run_dir), "--prompt", "the ", *extra]


def test_seeded_text_is_the_engines(run_dir, capsys):
    assert main(sample(run_dir, "--seed", "5", "--max-new-tokens", "40", "--temperature",
                       "0.8", "--top-k", "10")) == 0
    out = capsys.readouterr().out
    _, model, tok = load_trained_model(run_dir)
    expected = run_generation(model, tok, "the ", SamplingConfig(
        max_new_tokens=40, temperature=0.8, top_k=10, seed=5)).text
    assert out == expected + "\n"


def test_show_probs_json_lists_every_token_with_its_alternatives(run_dir, capsys):
    assert main(sample(run_dir, "--seed", "1", "--max-new-tokens", "15", "--show-probs",
                       "--json", "--alternatives", "3")) == 0
    doc = json.loads(capsys.readouterr().out)
    _, model, tok = load_trained_model(run_dir)
    core = run_generation(model, tok, "the ", SamplingConfig(max_new_tokens=15, seed=1,
                                                             n_alternatives=3))
    assert doc["text"] == core.text
    assert [t["id"] for t in doc["tokens"]] == [e.id for e in core.events]
    for token, event in zip(doc["tokens"], core.events):
        assert token["prob"] == pytest.approx(event.prob)
        assert [a["id"] for a in token["alternatives"]] == [a[0] for a in event.alternatives]
        assert len(token["alternatives"]) <= 3
        probs = [a["prob"] for a in token["alternatives"]]
        assert probs == sorted(probs, reverse=True)
    assert "".join(t["piece"] for t in doc["tokens"]) == doc["text"]
    assert doc["stop_reason"] in ("length", "eot") and doc["cropped_tokens"] == 0


def test_show_probs_as_text_prints_a_line_per_token(run_dir, capsys):
    assert main(sample(run_dir, "--seed", "1", "--max-new-tokens", "6", "--show-probs")) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 7 and all("p=" in line for line in lines[:6])
    assert lines[-1].startswith("text: ")


def test_stop_string_cuts_the_text_and_says_so(run_dir, capsys):
    assert main(sample(run_dir, "--temperature", "0", "--max-new-tokens", "60")) == 0
    free = capsys.readouterr().out.rstrip("\n")
    stop = free[5:7]  # a string the greedy text is known to reach
    assert main(sample(run_dir, "--temperature", "0", "--max-new-tokens", "60", "--stop",
                       stop, "--stop", r"\n\n")) == 0
    captured = capsys.readouterr()
    assert captured.out == free[:free.find(stop)] + "\n"
    assert "stop string" in captured.err and repr(stop) in captured.err


def test_bf16_generates_what_the_bf16_engine_does(run_dir, capsys):
    assert main(sample(run_dir, "--temperature", "0", "--max-new-tokens", "30",
                       "--precision", "bf16", "--json")) == 0
    doc = json.loads(capsys.readouterr().out)
    _, model, tok = load_trained_model(run_dir)
    half = inference_model(model, "bf16")
    expected = run_generation(half, tok, "the ", SamplingConfig(max_new_tokens=30,
                                                                temperature=0)).text
    assert doc["text"] == expected and doc["precision"] == "bf16"


@pytest.mark.parametrize("extra, needle", [
    (["--temperature", "-1"], "temperature must be 0"),
    (["--top-p", "1.5"], "top_p must be in (0, 1]"),
    (["--prompt", "the €"], "is not in the vocabulary"),
])
def test_bad_input_is_a_one_line_error(run_dir, capsys, extra, needle):
    assert main(sample(run_dir, *extra)) == 2
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err


def test_a_long_prompt_is_cropped_and_the_note_says_so(run_dir, capsys):
    assert main(["sample", "--run", str(run_dir), "--prompt", TEXT * 3, "--seed", "0",
                 "--max-new-tokens", "5"]) == 0
    err = capsys.readouterr().err
    assert f"the prompt has {len(TEXT) * 3} tokens" in err and "cropped" in err


def test_score_prints_each_tokens_loss_and_the_mean(run_dir, tmp_path, capsys, monkeypatch):
    text_file = tmp_path / "text.txt"
    text_file.write_text("the dog sat on the mat.", encoding="utf-8")
    assert main(["score", "--run", str(run_dir), str(text_file), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    _, model, tok = load_trained_model(run_dir)
    core = score_text(model, tok, "the dog sat on the mat.")
    assert doc["mean_loss"] == pytest.approx(core.mean_loss)
    assert doc["perplexity"] == pytest.approx(core.perplexity)
    assert [t["loss"] for t in doc["tokens"]] == pytest.approx([t.loss for t in core.tokens])
    assert main(["score", "--run", str(run_dir), str(text_file)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(core.tokens) + 1
    assert lines[-1].startswith(f"mean loss {core.mean_loss:.4f}")
    monkeypatch.setattr("sys.stdin", io.StringIO("the cat"))
    assert main(["score", "--run", str(run_dir), "-"]) == 0
    assert "mean loss" in capsys.readouterr().out
    assert main(["score", "--run", str(run_dir), str(tmp_path / "missing.txt")]) == 1
    assert "missing.txt" in capsys.readouterr().err
