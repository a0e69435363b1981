"""`gptstudio cache [--clear]` and `gptstudio env`, and a run's corpus path stored absolute."""

from __future__ import annotations

import json

from gptstudio.cli import main
from gptstudio.core.corpora import Corpus
from gptstudio.core.data import tokenize_corpus
from gptstudio.core.tokenizers import CharTokenizer


def test_cache_reports_and_clears(capsys):
    tokenize_corpus(Corpus("c", "c", text="abc abc " * 500), CharTokenizer.from_text("abc "))
    assert main(["cache"]) == 0
    assert "1 cached corpora" in capsys.readouterr().out
    assert main(["cache", "--clear"]) == 0
    assert "cleared" in capsys.readouterr().out
    assert main(["cache"]) == 0
    assert "0 cached corpora" in capsys.readouterr().out


def test_env_names_the_versions(capsys):
    assert main(["env", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["torch"] != "not installed" and facts["gptstudio"]
    assert "training device" in facts


def test_a_corpus_given_by_a_relative_path_is_stored_absolute(tmp_path, monkeypatch):
    from gptstudio.core.train import Run

    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("the cat sat on the mat. " * 400, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code = main(["train", "--corpus", "texts", "--preset", "nano", "--max-steps", "1",
                 "--run-dir", str(tmp_path / "run"), "--quiet", "--set", "n_layer=1",
                 "--set", "block_size=16", "--set", "batch_size=2", "--set", "eval_iters=1",
                 "--set", "eval_interval=0", "--set", "sample_interval=0"])
    assert code == 0
    assert Run.open(tmp_path / "run").data_config["corpus"] == str((tmp_path / "texts"))
