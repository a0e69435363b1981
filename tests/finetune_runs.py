"""What the fine-tuning tests share: small base runs and small data files.

A base run here is a GPT with random (seeded) weights saved as a step-0 checkpoint, the way an
import makes one: fine-tuning reads nothing else from it. Import `one_thread` from
`tests.tiny_runs` into a test module to run it on one thread.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch

from gptstudio.core.model import GPTConfig, build_model
from gptstudio.core.tokenizers import CharTokenizer
from gptstudio.core.train import Run, TrainConfig, save_checkpoint

ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:;!?'\"-#()<|>\n"


def char_tokenizer() -> CharTokenizer:
    return CharTokenizer(sorted(set(ALPHABET)))


def base_run(path: Path, *, tokenizer=None, seed: int = 0, **config) -> Path:
    """A run folder holding a seeded GPT's weights as its only (step-0) checkpoint."""
    tokenizer = tokenizer or char_tokenizer()
    settings = dict(block_size=256, n_layer=2, n_head=2, n_embd=32, bias=True, dropout=0.0)
    cfg = GPTConfig(tokenizer.vocab_size, **{**settings, **config})
    torch.manual_seed(seed)
    model = build_model(cfg)
    run = Run.create(path, cfg, TrainConfig(max_steps=1, batch_size=1), {"corpus": None},
                     tokenizer)
    save_checkpoint(run.checkpoints_dir, 0, model, {"imported": True},
                    model_config=cfg.to_dict(), tokenizer_fingerprint=tokenizer.fingerprint(),
                    tokenizer_name=tokenizer.name)
    return path


def separable_tsv(path: Path, *, n: int = 120, seed: int = 0) -> Path:
    """Two classes a linear head can tell apart: words of the letters a-m vs n-z."""
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        label = ("early", "late")[i % 2]
        letters = "abcdefghijklm" if label == "early" else "nopqrstuvwxyz"
        words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 5)))
                 for _ in range(rng.randint(2, 6))]
        lines.append(f"{label}\t{' '.join(words)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def instruction_json(path: Path, *, n: int = 40, seed: int = 0) -> Path:
    """Alpaca-style records the char tokenizer can encode: repeat or reverse a word."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        word = "".join(rng.choice("abcdefgh") for _ in range(rng.randint(3, 6)))
        if i % 2:
            records.append({"instruction": "Reverse the word.", "input": word,
                            "output": word[::-1]})
        else:
            records.append({"instruction": f"Repeat {word} twice.", "input": "",
                            "output": f"{word} {word}"})
    path.write_text(json.dumps(records, indent=1), encoding="utf-8")
    return path


def quick_config(**overrides) -> TrainConfig:
    base = dict(max_steps=12, batch_size=4, learning_rate=3e-3, min_lr=3e-3, warmup_steps=0,
                eval_interval=4, eval_iters=2, sample_interval=0, checkpoint_interval=4,
                precision="fp32", compile="off")
    return TrainConfig(**{**base, **overrides})
