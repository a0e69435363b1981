"""PyTorch's global RNG is one for every thread. Loading a run's weights (what the app's workers do
while a training may be initialising in another thread) must not draw from it: the loaded model
is built without random initial values and filled from the checkpoint."""

from __future__ import annotations

import torch

from gptstudio.core.attention.run_views import run_attention
from gptstudio.core.finetune import FinetuneSpec
from gptstudio.core.finetune.prepare import load_finetuned
from gptstudio.core.pipeline import load_trained_model, prepare_finetune
from gptstudio.core.train import Run, load_checkpoint
from gptstudio.core.model import build_model
from tests.finetune_runs import base_run, quick_config, separable_tsv


def untouched(load) -> bool:
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    load()
    return torch.equal(torch.get_rng_state(), before)


def test_loading_a_run_draws_nothing_and_gives_the_checkpoints_weights(tmp_path):
    run_dir = base_run(tmp_path / "base")
    result = {}
    assert untouched(lambda: result.setdefault("loaded", load_trained_model(run_dir)))
    _, model, _ = result["loaded"]
    oracle = build_model(Run.open(run_dir).model_config())
    load_checkpoint(run_dir, oracle)
    for (name, a), (_, b) in zip(model.state_dict().items(), oracle.state_dict().items()):
        assert torch.equal(a, b), name
    if model.config.tie_weights:
        assert model.lm_head.weight is model.transformer.wte.weight
    assert untouched(lambda: run_attention(run_dir, prompt="ab"))


def test_a_fine_tunes_language_model_view_draws_nothing(tmp_path):
    base = base_run(tmp_path / "base")
    spec = FinetuneSpec("classification", str(separable_tsv(tmp_path / "w.tsv", n=40)))
    for _ in prepare_finetune(tmp_path / "ft", base, spec, quick_config()).trainer.events():
        pass
    _, finetuned, _, _ = load_finetuned(tmp_path / "ft")
    view = {}
    assert untouched(lambda: view.setdefault("gpt", finetuned.language_model()))
    x = torch.tensor([[1, 2, 3]])
    assert torch.equal(view["gpt"](x).logits, finetuned.language_model()(x).logits)
