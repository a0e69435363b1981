"""Looking inside a model: attention maps on a prompt, and numpy snapshots of the weights.

Both are engine work that the app draws and the trainer serves on request (between two steps, or
while paused): the caller gets frozen dataclasses of numpy *copies*, so nothing it holds aliases
the model's memory and it can cross threads or outlive training.

- `attention_maps(model, tokenizer, prompt)`: every layer's attention weights (n_head, T, T) on
  one prompt, from the model's explicit attention path (`forward(..., return_attn=True)`).
- `snapshot_weights(model, step)` -> `WeightsSnapshot`, and back: `model_from_snapshot` (or
  `snapshot.to_model()`) builds an independent CPU model that gives the same logits.

Neither draws from torch's global random generator: attention runs in eval mode (no dropout),
and a model is rebuilt without random initialisation (its weights are overwritten anyway). That
matters because the generator is shared by all threads: the training thread's dropout stream must
not move when the app inspects a copy. Left out: drawing (the app) and serving requests at the
right moment (`core.train.trainer`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from gptstudio.core.errors import ConfigError
from gptstudio.core.model import GPTConfig, LSTMConfig, build_model

if TYPE_CHECKING:
    from gptstudio.core.tokenizers import Tokenizer

ModelConfig = GPTConfig | LSTMConfig


# --- attention -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AttentionMaps:
    """Attention weights of every layer on one prompt, at training step `step`.

    `weights[layer][head, i, j]` is how much position i looks at position j (each row sums to
    1; j > i is 0, the future is masked). `tokens[i]` is the readable text of `token_ids[i]`.
    """

    step: int
    token_ids: tuple[int, ...]
    tokens: tuple[str, ...]  # tokenizer.token_str of each id
    weights: tuple[np.ndarray, ...]  # one float32 (n_head, T, T) array per layer, copies

    @property
    def n_layer(self) -> int:
        return len(self.weights)

    @property
    def n_head(self) -> int:
        return int(self.weights[0].shape[0]) if self.weights else 0


def attention_maps(
    model: nn.Module, tokenizer: Tokenizer, prompt: str, *, step: int = 0
) -> AttentionMaps:
    """The attention weights of `model` (a GPT) on `prompt`, one (n_head, T, T) array a layer.

    The prompt is encoded with its special tokens read as such (`allowed_special="all"`: the
    user typed them on purpose) and cropped to its last block_size tokens, the most the model
    reads at once. The forward runs in eval mode (no dropout: the weights as they are) without
    gradients; the module's training/eval mode is restored afterwards. ConfigError for an LSTM
    or for a prompt without tokens; TokenizerError for text the tokenizer cannot encode.
    """
    config = model.config
    if not isinstance(config, GPTConfig):
        raise ConfigError("The LSTM baseline has no attention to show; choose a GPT model.")
    ids = tokenizer.encode(prompt, allowed_special="all")[-config.block_size:]
    if not ids:
        raise ConfigError("The prompt has no tokens to show attention on; type some text.")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.tensor([ids], device=device), return_attn=True)
    finally:
        model.train(was_training)
    # (1, nh, T, T) per layer -> (nh, T, T) float32 numpy copies on the CPU.
    weights = tuple(a[0].to("cpu", torch.float32, copy=True).numpy() for a in out.attentions)
    return AttentionMaps(step=step, token_ids=tuple(ids),
                         tokens=tuple(tokenizer.token_str(i) for i in ids), weights=weights)


# --- weights ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeightsSnapshot:
    """The model's state dict at `step` as float32 numpy copies (C-ordered), plus its config.

    Tied weights (GPT-2's shared token embedding and LM head) appear under both names, as in
    the state dict, as one array: the snapshot keeps the tie, and `to_model` restores it.
    """

    step: int
    model_config: ModelConfig
    state: dict[str, np.ndarray]  # float32 numpy copies, nothing aliases the model

    def to_model(self) -> nn.Module:
        """A fresh model (CPU, eval mode) with these weights: see `model_from_snapshot`."""
        return model_from_snapshot(self)

    @property
    def n_params(self) -> int:
        """Parameters counted once (a tied matrix counts once)."""
        unique = {id(a): a for a in self.state.values()}
        return sum(a.size for a in unique.values())


def snapshot_weights(model: nn.Module, step: int) -> WeightsSnapshot:
    """A copy of `model`'s weights (its `config` says what to rebuild) as a WeightsSnapshot.

    Call it from the thread that owns the model (the trainer serves `request_weights()`).
    """
    state: dict[str, np.ndarray] = {}
    copies: dict[tuple, np.ndarray] = {}
    for name, tensor in model.state_dict().items():
        # Two names for the same memory (weight tying): copy it once, store it under both.
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape),
               tensor.stride())
        if key not in copies or tensor.numel() == 0:
            # copy=True: never a view of the model's memory, whatever its device and dtype;
            # contiguous: linear weights live transposed in memory (model/linear.py).
            copies[key] = tensor.detach().to("cpu", torch.float32, copy=True,
                                             memory_format=torch.contiguous_format).numpy()
        state[name] = copies[key]
    return WeightsSnapshot(step=int(step), model_config=model.config, state=state)


def model_from_snapshot(snapshot: WeightsSnapshot) -> nn.Module:
    """A new model on the CPU, in eval mode, holding the snapshot's weights (independent copies).

    Same logits as the model the snapshot came from; tied weights stay tied and linear weights
    keep their transposed memory layout (load_state_dict copies into the model's own tensors).
    """
    model = uninitialised_model(snapshot.model_config)
    model.load_state_dict({name: torch.tensor(a) for name, a in snapshot.state.items()})
    return model.eval()


def uninitialised_model(config: ModelConfig) -> nn.Module:
    """A CPU model with uninitialised weights, built without drawing from the global RNG.

    Built on the "meta" device (shapes only, nothing random runs), then given real memory. That
    breaks weight tying (each name gets its own new tensor), so the names that shared one
    parameter are tied again. The model has no buffers that the state dict leaves out.
    """
    with torch.device("meta"):
        model = build_model(config)
    tied: dict[str, str] = {}  # alias -> first name of the same Parameter
    first_name: dict[int, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        tied_to = first_name.setdefault(id(param), name)
        if tied_to != name:
            tied[name] = tied_to
    model = model.to_empty(device="cpu")
    for alias, name in tied.items():
        owner, _, attr = alias.rpartition(".")
        setattr(model.get_submodule(owner), attr, model.get_parameter(name))
    return model
