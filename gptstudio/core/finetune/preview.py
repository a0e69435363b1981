"""What a fine-tune will do, before it starts: what trains, one example as the loss sees it.

- `trainable_parameters(config, spec, n_classes)`: (trainable, total) parameters of the model
  a fine-tune would train, counted on a model built on PyTorch's "meta" device (shapes only,
  no memory, no weights), frozen by the same `set_trainable` a real fine-tune uses.
- `masked_example(data, tokenizer)`: one training example token by token, each marked as
  trained or not. For instructions a token is *trained* when the loss has it as a target: the
  response and its end-of-text token, not the prompt (unless the spec counts the prompt too).
  The marks come from the very batch the trainer gets (`EncodedRecords.batch`: targets of -1
  are masked). For classification the loss reads the head's output at the last real token
  (or the mean of the real ones with mean pooling): those positions are marked; the other text
  tokens and the padding are not, and the example's label is given.
- `preview_finetune(base_run, spec)`: both of these for a base run and a data file (for a
  classifier the first training example of each label; for instructions the first record),
  with the data's summary (split sizes, labels, truncation): the app's Fine-tune tab shows it as the
  options change. Errors are the ones `prepare_finetune` would raise, so the tab can say them
  before Start. Left out: training (`prepare.py`), drawing (the app).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from gptstudio.core.finetune.classification import ClassificationData
from gptstudio.core.finetune.instructions import IGNORE, InstructionData
from gptstudio.core.finetune.lora import count_parameters
from gptstudio.core.finetune.model import FinetunedGPT, set_trainable
from gptstudio.core.finetune.prepare import FinetuneData, open_base, read_finetune_data
from gptstudio.core.finetune.spec import FinetuneSpec
from gptstudio.core.model import GPTConfig, build_model
from gptstudio.core.tokenizers.pieces import readable


def trainable_parameters(config: GPTConfig, spec: FinetuneSpec,
                         n_classes: int | None) -> tuple[int, int]:
    """(trainable, total) parameters of `spec`'s fine-tune of a GPT of `config`; ConfigError
    as `set_trainable` gives it (too many blocks, a LoRA rank larger than a layer, ...)."""
    # On the meta device building draws no random numbers, so the global RNG is left alone
    # without fork_rng (whose restore, from this worker thread, would rewind a training's RNG).
    with torch.device("meta"):
        model = FinetunedGPT(build_model(config), n_classes=n_classes, pooling=spec.pooling)
        set_trainable(model, train_last=spec.train_last, lora=spec.lora)
    return count_parameters(model)


@dataclass(frozen=True)
class MaskedExample:
    """One training example, token by token (see the module docstring).

    kinds: "prompt" | "response" | "end" (instructions), "text" | "read" | "pad"
    (classification). trained[i]: the loss counts token i (instructions: as a target;
    classification: the head reads it)."""

    task: str
    ids: tuple[int, ...]
    pieces: tuple[str, ...]
    trained: tuple[bool, ...]
    kinds: tuple[str, ...]
    label: str | None = None

    @property
    def n_trained(self) -> int:
        return sum(self.trained)


def masked_example(data: FinetuneData, tokenizer: Any, *, index: int = 0,
                   pooling: str = "last", split: str = "train") -> MaskedExample:
    """Example `index` of `split`, marked as the trainer's batches mark it."""
    piece = lambda i: readable(tokenizer.token_bytes(int(i)))  # noqa: E731
    if isinstance(data, ClassificationData):
        part = data.splits[split]
        ids, length = part.ids[index].tolist(), int(part.lengths[index])
        read = {length - 1} if pooling == "last" else set(range(length))
        kinds = tuple("pad" if i >= length else "read" if i in read else "text"
                      for i in range(len(ids)))
        return MaskedExample("classification", tuple(ids), tuple(piece(i) for i in ids),
                             tuple(k == "read" for k in kinds), kinds,
                             label=data.labels[int(part.targets[index])])
    assert isinstance(data, InstructionData)
    part = data.splits[split]
    sequence = part.sequences[index].tolist()
    _, targets = part.batch([index])  # y[j] is the target after input j: token j + 1
    trained = (False, *(int(t) != IGNORE for t in targets[0].tolist()))
    prompt = part.prompt_lengths[index]
    ends_with_eot = sequence[-1] == part.pad_id
    kinds = tuple("prompt" if i < prompt else
                  "end" if ends_with_eot and i == len(sequence) - 1 else "response"
                  for i in range(len(sequence)))
    return MaskedExample("instructions", tuple(sequence), tuple(piece(i) for i in sequence),
                         trained[:len(sequence)], kinds)


@dataclass(frozen=True)
class FinetunePreview:
    """What the Fine-tune tab shows before Start."""

    n_trainable: int
    n_params: int
    n_layer: int
    block_size: int
    examples: tuple[MaskedExample, ...]
    summary: dict[str, Any]
    labels: tuple[str, ...] = ()

    @property
    def example(self) -> MaskedExample:
        return self.examples[0]


def preview_finetune(base_run: str | os.PathLike, spec: FinetuneSpec) -> FinetunePreview:
    """The trainable count, a masked example and the data's summary for `spec` on `base_run`
    (reads the data file and the base's tokenizer; builds no real model)."""
    source, _, config = open_base(base_run)
    tokenizer = source.load_tokenizer()
    _, data = read_finetune_data(spec, tokenizer, block_size=config.block_size)
    labels = data.labels if isinstance(data, ClassificationData) else ()
    n_trainable, n_params = trainable_parameters(config, spec, len(labels) or None)
    indices = [0]
    if isinstance(data, ClassificationData):  # the first example of each label, in label order
        targets = data.splits["train"].targets.tolist()
        indices = [targets.index(c) for c in range(len(labels)) if c in targets]
    examples = tuple(masked_example(data, tokenizer, index=i, pooling=spec.pooling)
                     for i in indices)
    return FinetunePreview(n_trainable, n_params, config.n_layer, config.block_size, examples,
                           data.summary(), tuple(labels))
