"""Reproduce published runs: the settings of two classic experiments and the losses they report.

`BOOK_RUNS` holds, for each experiment, the corpus, tokenizer, model and training config that set
it up here, and its published losses as a `ReferenceCurve` (only the figures the sources state,
as points: nothing is interpolated between them), so the Train tab can draw them over a reader's
own run and the reader can see whether theirs behaves the same way.

* "verdict": "Build a Large Language Model (From Scratch)" (Sebastian Raschka, Manning 2024),
  chapter 5, "Pretraining on unlabeled data": the 124M GPT-2 layout at context 256 trained for
  10 epochs on Edith Wharton's short story "The Verdict" (20,479 characters, 5,145 GPT-2
  tokens, figures from the book's chapter 5) with AdamW (lr 4e-4, weight decay 0.1), batch 2.
  Reported: train loss 9.817 → 0.569, validation 9.924 → 6.373, lowest 6.123 at epoch 6 — it
  overfits a text this small.
* "shakespeare": nanoGPT's (Andrej Karpathy) character-level Tiny Shakespeare run for CPUs from
  its README (4 layers, 4 heads, width 128, context 64, batch 12, lr 1e-3, 2,000 iterations,
  dropout 0): validation loss about 1.88 at 2,000 steps.

Where the engine's training differs from the source's, `differences` says how (a step here
draws random windows; the book walks the text in order, epoch by epoch). Left out: the app's
fields (the Setup tab applies a `BookRun`) and drawing (the Train tab's plot).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gptstudio.core.model import GPTConfig, from_preset
from gptstudio.core.train.config import TrainConfig

BOOK = '"Build a Large Language Model (From Scratch)", S. Raschka, Manning 2024'


@dataclass(frozen=True)
class ReferencePoint:
    """One published loss: `split` "train" or "val", at training step `step`, and where in the
    source it is (`at`, e.g. "epoch 6")."""

    step: float
    split: str
    loss: float
    at: str


@dataclass(frozen=True)
class ReferenceCurve:
    """Published losses of one run. `tokens_per_step` turns steps into tokens seen;
    `bytes_per_token` (the source's text and tokenizer) turns a loss into bits per byte."""

    name: str
    source: str
    points: tuple[ReferencePoint, ...]
    tokens_per_step: int
    bytes_per_token: float
    note: str = ""

    def split(self, name: str) -> tuple[list[float], list[float]]:
        """(steps, losses) of one split's points."""
        chosen = [p for p in self.points if p.split == name]
        return [p.step for p in chosen], [p.loss for p in chosen]

    def bits_per_byte(self, loss: float) -> float:
        return loss / math.log(2) / self.bytes_per_token


@dataclass(frozen=True)
class BookRun:
    """Everything that sets one published experiment up."""

    key: str
    title: str
    chapter: str
    corpus: str  # a corpus spec (core/corpora): a known download
    corpus_file: str  # the file a reader who has it can open instead
    tokenizer: str  # a tokenizer spec
    model: GPTConfig
    train: TrainConfig
    reference: ReferenceCurve
    differences: tuple[str, ...]


def steps_per_epoch(n_train_tokens: int, batch_size: int, block_size: int) -> int:
    """Steps that see as many tokens as the training split holds (at least 1)."""
    return max(1, round(n_train_tokens / (batch_size * block_size)))


# -- "The Verdict", chapter 5 -------------------------------------------------------------------
VERDICT_CHARS, VERDICT_TOKENS = 20_479, 5_145  # the book's chapter 5 figures (GPT-2 tokens)
VERDICT_EPOCHS, VERDICT_BATCH, VERDICT_CONTEXT = 10, 2, 256
VERDICT_TRAIN_TOKENS = VERDICT_TOKENS - round(VERDICT_TOKENS * 0.1)  # the engine's 90/10 split
VERDICT_STEPS_PER_EPOCH = steps_per_epoch(VERDICT_TRAIN_TOKENS, VERDICT_BATCH, VERDICT_CONTEXT)


def _at_epoch(epoch: int) -> float:
    """A figure "at epoch e" is drawn at the end of epoch e; the first one after one step (the
    book evaluates after the first update)."""
    return 1.0 if epoch == 0 else float(epoch * VERDICT_STEPS_PER_EPOCH)


VERDICT_REFERENCE = ReferenceCurve(
    name="book, ch. 5",
    source=f"{BOOK}, chapter 5 (training on The Verdict)",
    points=(
        ReferencePoint(_at_epoch(0), "train", 9.817, "first evaluation"),
        ReferencePoint(_at_epoch(0), "val", 9.924, "first evaluation"),
        ReferencePoint(_at_epoch(6), "val", 6.123, "epoch 6 (lowest)"),
        ReferencePoint(_at_epoch(10), "train", 0.569, "end of epoch 10"),
        ReferencePoint(_at_epoch(10), "val", 6.373, "end of epoch 10"),
    ),
    tokens_per_step=VERDICT_BATCH * VERDICT_CONTEXT,
    bytes_per_token=VERDICT_CHARS / VERDICT_TOKENS,  # the story is ASCII: a character, a byte
    note=f"the published points only; an epoch is {VERDICT_STEPS_PER_EPOCH} steps here",
)

VERDICT = BookRun(
    key="verdict",
    title="Book, chapter 5: GPT-2 124M on The Verdict",
    chapter="chapter 5, “Pretraining on unlabeled data”",
    corpus="download:the-verdict",
    corpus_file="the-verdict.txt",
    tokenizer="gpt2",
    # The book's GPTModel: GPT-2 124M's layout at context 256, dropout 0.1, its own output head.
    model=from_preset("gpt2", block_size=VERDICT_CONTEXT, dropout=0.1, tie_weights=False),
    train=TrainConfig(
        max_steps=VERDICT_EPOCHS * VERDICT_STEPS_PER_EPOCH, batch_size=VERDICT_BATCH,
        learning_rate=4e-4, min_lr=4e-4, warmup_steps=0, weight_decay=0.1, beta1=0.9,
        beta2=0.999, grad_clip=0.0, eval_interval=5, eval_iters=5, sample_interval=5,
        sample_prompt="Every effort moves you", sample_tokens=50, checkpoint_interval=0,
        seed=123,
    ),
    reference=VERDICT_REFERENCE,
    differences=(
        "Each step draws random windows of the text; the book walks it in order, epoch by "
        f"epoch (an epoch here is {VERDICT_STEPS_PER_EPOCH} steps of the same number of "
        "tokens).",
        "Weight decay applies to weight matrices only; the book's AdamW decays every "
        "parameter.",
        "The model has biases in its query/key/value projection too (the book's has none "
        "there).",
    ),
)

# -- nanoGPT's character-level Tiny Shakespeare on a CPU ----------------------------------------
SHAKESPEARE_REFERENCE = ReferenceCurve(
    name="nanoGPT, CPU run",
    source="nanoGPT's README (github.com/karpathy/nanoGPT), the CPU shakespeare_char run",
    points=(ReferencePoint(2000.0, "val", 1.88, "2,000 iterations"),),
    tokens_per_step=12 * 64,
    bytes_per_token=1.0,  # characters of an ASCII text
    note="the published point only (validation loss about 1.88)",
)

SHAKESPEARE = BookRun(
    key="shakespeare",
    title="nanoGPT: Tiny Shakespeare by character",
    chapter="the classic first run (the book's chapter 5 trains the same way, on words)",
    corpus="download:tinyshakespeare",
    corpus_file="tinyshakespeare.txt",
    tokenizer="char",
    model=from_preset("tiny", dropout=0.0),
    train=TrainConfig(
        max_steps=2000, batch_size=12, learning_rate=1e-3, min_lr=1e-4, warmup_steps=100,
        weight_decay=0.1, beta1=0.9, beta2=0.99, grad_clip=1.0, eval_interval=250,
        eval_iters=20, sample_interval=250, seed=1337,
    ),
    reference=SHAKESPEARE_REFERENCE,
    differences=("nanoGPT evaluates on 20 batches too, so its figure has the same noise of a "
                 "few hundredths; runs with other seeds land around it.",),
)

BOOK_RUNS: dict[str, BookRun] = {run.key: run for run in (VERDICT, SHAKESPEARE)}
