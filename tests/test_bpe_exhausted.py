"""`bpe_training_exhausted`: whether BPE training on a text had nothing left to merge, judged by
streaming the text, never reading it whole. The oracle is training again with one more token and
comparing the tokenizers (what `train --resume` did before, on the whole text in memory)."""

from __future__ import annotations

import random

import pytest

from gptstudio.core.corpora import Corpus, load_corpus
from gptstudio.core.tokenizers import resolve_tokenizer
from gptstudio.core.tokenizers.bpe_exhausted import bpe_training_exhausted


def _texts(seed: int, n: int):
    rng = random.Random(seed)
    for _ in range(n):
        words = ["".join(rng.choice("abcé ") for _ in range(rng.randint(1, 6)))
                 for _ in range(rng.randint(3, 30))]
        sep = "<|endoftext|>" if rng.random() < 0.3 else "\n"
        yield sep.join(words) + "\n"


@pytest.mark.parametrize("pattern", ["gpt2", "gpt4"])
def test_it_agrees_with_training_one_more_token(pattern):
    exhausted = not_exhausted = 0
    for text in _texts(seed=len(pattern), n=25):
        corpus = Corpus("t", "t", text=text)
        for vocab_size in (262, 280, 1000):
            tok = resolve_tokenizer(f"bpe:{vocab_size}:{pattern}", corpus_text=text)
            more = resolve_tokenizer(f"bpe:{tok.vocab_size + 1}:{pattern}", corpus_text=text)
            oracle = more.fingerprint() == tok.fingerprint()
            assert bpe_training_exhausted(tok, corpus.iter_chunks(50)) == oracle, (text, vocab_size)
            exhausted += oracle
            not_exhausted += not oracle
    assert exhausted > 5 and not_exhausted > 5  # both answers were put to the test


def test_a_big_corpus_is_judged_from_its_first_chunk(tmp_path, monkeypatch):
    path = tmp_path / "big.txt"
    line = "the quick brown fox jumps over the lazy dog while the cat sleeps\n"
    path.write_text(line * 40_000)  # 2.6 MB
    corpus = load_corpus(path)
    tok = resolve_tokenizer("bpe:300", corpus_text=line * 50)
    read = []

    def chunks():
        for chunk in corpus.iter_chunks(64 * 1024):
            read.append(len(chunk))
            yield chunk

    monkeypatch.setattr(Corpus, "text", property(lambda self: pytest.fail("read whole")))
    assert not bpe_training_exhausted(tok, chunks())
    assert len(read) == 1  # a pair left to merge shows at once
    # A tokenizer that learnt every word of the text: every chunk is looked at.
    whole = resolve_tokenizer("bpe:100000", corpus_text=line)
    read.clear()
    assert bpe_training_exhausted(whole, chunks())
    assert sum(read) == corpus.n_chars


def test_train_resume_judges_bpe_n_from_the_stream_of_the_runs_corpus(tmp_path, monkeypatch):
    """`train --resume --tokenizer bpe:N` with N above a run's stopped-early BPE: accepted, and
    the run's corpus is streamed for it, never read whole (it may be gigabytes)."""
    from gptstudio.cli.resume import _tokenizer_difference
    from gptstudio.core.model import from_preset
    from gptstudio.core.train import Run, TrainConfig

    path = tmp_path / "corpus.txt"
    text = "the cat sat on the mat\n" * 200
    path.write_text(text)
    runs = {}
    for name, spec in (("early", "bpe:5000"), ("full", "bpe:262")):
        tok = resolve_tokenizer(spec, corpus_text=text)
        runs[name] = Run.create(tmp_path / name, from_preset("nano", vocab_size=tok.vocab_size),
                                TrainConfig(max_steps=2), {"corpus": str(path)}, tok)
    monkeypatch.setattr(Corpus, "text", property(lambda self: pytest.fail("read whole")))
    assert _tokenizer_difference("bpe:6000", runs["early"]) is None
    assert "the run's is" in _tokenizer_difference("bpe:300", runs["full"])
