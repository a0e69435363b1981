"""Runs the Generate tab's tests read: small character models trained headless, once a module.

Module fixtures: `fables_run`, a run on the bundled fables (checkpoints at steps 20, 40 and 60),
and `tuned_run`, a LoRA instruction fine-tune (`core.pipeline.prepare_finetune`) of a small base
on the fine-tuning tests' records. Import them into a test module to use them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gptstudio.core.corpora import Corpus, load_builtin
from gptstudio.core.finetune.lora import LoRAConfig
from gptstudio.core.finetune.spec import FinetuneSpec
from gptstudio.core.model import from_preset
from gptstudio.core.pipeline import prepare_finetune, prepare_new_training
from gptstudio.core.tokenizers import CharTokenizer
from gptstudio.core.train import TrainConfig
from tests.finetune_runs import base_run, instruction_json, quick_config


def _train(path: Path, corpus: Corpus, steps: int) -> Path:
    tok = CharTokenizer.from_text(corpus.text)
    model = from_preset("nano", n_layer=1, n_head=2, n_embd=32, block_size=32)
    config = TrainConfig(max_steps=steps, batch_size=8, eval_interval=0, eval_iters=1,
                         sample_interval=0, checkpoint_interval=20, warmup_steps=2,
                         precision="fp32", compile="off")
    prepared = prepare_new_training(path, corpus, tok, model, config,
                                    corpus_spec=corpus.source)
    for _ in prepared.trainer.events():
        pass
    return path


@pytest.fixture(scope="module")
def fables_run(tmp_path_factory) -> Path:
    """A run on the bundled fables, by character; checkpoints at steps 20, 40 and 60."""
    root = tmp_path_factory.mktemp("fables-run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GPTSTUDIO_CACHE_DIR", str(root / "cache"))  # never the user's cache
        return _train(root / "fables", load_builtin("fables"), 60)


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory) -> Path:
    """A LoRA instruction fine-tune of a small base (char-level, block_size 256)."""
    root = tmp_path_factory.mktemp("tuned-run")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GPTSTUDIO_CACHE_DIR", str(root / "cache"))
        base = base_run(root / "base")  # block_size 256: room for a record and its answer
        spec = FinetuneSpec("instructions", str(instruction_json(root / "records.json")),
                            lora=LoRAConfig(rank=2, alpha=8))
        prepared = prepare_finetune(root / "instructions", base, spec,
                                    quick_config(max_steps=8, eval_interval=0))
        for _ in prepared.trainer.events():
            pass
    return prepared.run.path
