"""The command line while a corpus is prepared: a line per stage (opening, characters or words,
merges, tokenizing), from one second into each stage; a BPE that stops early says so."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gptstudio.cli import corpus_progress, main
from gptstudio.cli.corpus_progress import CorpusProgress
from gptstudio.core.corpora import ReadProgress
from gptstudio.core.data import TokenizeProgress
from gptstudio.core.tokenizers import WordCountEvent, load_tokenizer


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_stage_shows_a_line_one_second_in_then_one_per_tenth():
    clock, log = Clock(), io.StringIO()
    shown = CorpusProgress("big.txt", stream=log, clock=clock)
    total = 1000 << 20
    shown(ReadProgress(0, total))
    assert log.getvalue() == ""  # not yet: a small corpus would be done already
    for step in range(1, 101):  # 10 MB a step, 1/8 s apart
        clock.now += 0.125
        shown(ReadProgress(step * 10 << 20, total))
    lines = log.getvalue().splitlines()
    assert lines[0] == "opening big.txt: 80.0 MB of 1,000.0 MB checked (8%), 80.0 MB/s"
    assert [line.split("(")[1].split(")")[0] for line in lines] == [
        "8%", "10%", "20%", "30%", "40%", "50%", "60%", "70%", "80%", "90%", "100%"]


def test_after_the_first_second_each_new_stage_shows_its_first_event_at_once():
    clock, log = Clock(), io.StringIO()
    shown = CorpusProgress("big.txt", stream=log, clock=clock)
    shown(ReadProgress(0, 100 << 20))
    clock.now += 0.75
    shown(ReadProgress(100 << 20, 100 << 20))  # opening done within the first second: quiet
    clock.now += 0.5
    shown(TokenizeProgress(0, 1000, 0, total_bytes=100 << 20))
    assert log.getvalue() == "tokenizing into the cache: 0 B of 100.0 MB (0%), 0 tokens\n"


def test_work_over_within_a_second_says_nothing_but_merges_do():
    clock, log = Clock(), io.StringIO()
    shown = CorpusProgress("small.txt", stream=log, clock=clock, vocab_size=267)
    shown(ReadProgress(0, 5000))
    shown(ReadProgress(5000, 5000))
    shown(WordCountEvent(5000, 5000, 5000, 900, 120, False))
    assert log.getvalue() == ""

    from gptstudio.core.tokenizers import MergeEvent

    for i in range(10):
        shown(MergeEvent(i, (1, 2), b"th", 50 - i, 1.5))
    assert [line.split()[1] for line in log.getvalue().splitlines()] == [
        f"{n}/10" for n in range(1, 11)]


def test_on_a_terminal_each_stage_is_one_line_redrawn_in_place():
    clock, term = Clock(), Terminal()
    shown = CorpusProgress("big.txt", stream=term, clock=clock)
    total = 100 << 20
    for step in range(0, 11):
        shown(TokenizeProgress(step * 1000, 10_000, step * 300, done_bytes=step * 10 << 20,
                               total_bytes=total))
        clock.now += 0.5
    text = term.getvalue()
    assert text.startswith("\r\033[Ktokenizing into the cache: 20.0 MB of 100.0 MB (20%), ")
    assert text.endswith("100.0 MB of 100.0 MB (100%), 3,000 tokens, 20.0 MB/s\n")
    assert text.count("\n") == 1  # finished: the line is ended once


def test_sampled_word_counts_say_so():
    clock, log = Clock(), io.StringIO()
    shown = CorpusProgress("big.txt", stream=log, clock=clock)
    shown(WordCountEvent(100, 10_000, 100, 20, 10, True))
    clock.now += 2
    shown(WordCountEvent(5000, 10_000, 2500, 500, 100, True))
    assert "counting words for BPE (a sample: 2,500 characters): 5,000 of 10,000" in \
        log.getvalue()


@pytest.fixture()
def no_quiet_second(monkeypatch):
    """Every stage shows its lines at once, so a small corpus shows what a large one would."""
    monkeypatch.setattr(corpus_progress, "QUIET_SECONDS", 0.0)


def test_tokenizer_train_streams_the_corpus_with_progress(tmp_path: Path, capsys,
                                                          no_quiet_second, shared_data):
    text = (shared_data / "the-verdict.txt").read_text(encoding="utf-8")
    (tmp_path / "verdict.txt").write_text(text, encoding="utf-8")
    out = tmp_path / "bpe.json"
    assert main(["tokenizer", "train", str(tmp_path / "verdict.txt"), "--vocab-size", "300",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    stages = [line.split(":")[0].split()[0] for line in err.splitlines()]
    assert stages[0] == "opening" and "counting" in stages and stages[-1] == "merge"
    assert stages.index("counting") < stages.index("merge")
    assert load_tokenizer(out).vocab_size == 300


def test_a_vocabulary_larger_than_the_text_allows_is_reported(tmp_path: Path, capsys):
    corpus = tmp_path / "tiny.txt"
    corpus.write_text("the cat sat on the mat.\n" * 50, encoding="utf-8")
    out = tmp_path / "bpe.json"
    assert main(["tokenizer", "train", str(corpus), "--vocab-size", "100000", "--out",
                 str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    got = load_tokenizer(out).vocab_size
    assert got < 300
    assert f"({got} tokens)" in captured.out
    assert (f"BPE training stopped at {got:,} tokens, not the 100,000 asked for"
            in captured.err)


def test_tokenizer_train_on_a_sample(tmp_path: Path, capsys, no_quiet_second, shared_data):
    (tmp_path / "s.txt").write_text(
        (shared_data / "tinyshakespeare.txt").read_text(encoding="utf-8")[:400_000],
        encoding="utf-8")
    assert main(["tokenizer", "train", str(tmp_path / "s.txt"), "--vocab-size", "260",
                 "--sample-chars", "100000", "--out", str(tmp_path / "b.json")]) == 0
    assert "(a sample: " in capsys.readouterr().err
    assert main(["tokenizer", "train", str(tmp_path / "s.txt"), "--sample-chars", "0",
                 "--out", str(tmp_path / "b.json")]) == 2


def test_train_shows_each_corpus_stage_before_training(tmp_path: Path, capsys,
                                                       no_quiet_second):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat. the dog sat on the log.\n" * 200,
                      encoding="utf-8")
    args = ["train", "--corpus", str(corpus), "--tokenizer", "char", "--preset", "nano",
            "--set", "n_layer=1", "--set", "n_embd=16", "--set", "n_head=2",
            "--set", "block_size=16", "--set", "batch_size=2", "--set", "eval_iters=1",
            "--set", "sample_interval=0", "--max-steps", "2",
            "--run-dir", str(tmp_path / "run")]
    assert main(args) == 0
    err = capsys.readouterr().err.splitlines()
    first = [next(i for i, line in enumerate(err) if line.startswith(word))
             for word in ("opening corpus.txt", "collecting characters", "tokenizing into",
                          "training ")]
    assert first == sorted(first)


def test_train_with_a_bpe_larger_than_the_text_allows_says_so(tmp_path: Path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat. the dog sat on the log.\n" * 200,
                      encoding="utf-8")
    assert main(["train", "--corpus", str(corpus), "--tokenizer", "bpe:100000", "--preset",
                 "nano", "--set", "n_layer=1", "--set", "n_embd=16", "--set", "n_head=2",
                 "--set", "block_size=8", "--set", "batch_size=2", "--set", "eval_iters=1",
                 "--set", "sample_interval=0", "--max-steps", "1",
                 "--run-dir", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    got = load_tokenizer(next((tmp_path / "run").glob("*tokenizer*.json"))).vocab_size
    assert f"BPE training stopped at {got:,} tokens, not the 100,000 asked for" in err
