"""`LSTMLanguageModel`: a recurrent baseline behind the same interface as the GPT.

    ids (B, T) -> embedding -> dropout -> stacked LSTM -> dropout -> linear head -> (B, T, vocab)

It predicts the next token at *every* position (like the GPT, so the two losses are comparable
on the same batches) and can carry its hidden state (h, c) from one call to the next: pass the
`state` of one output as `state=` to the next call, and feeding a sequence in two halves gives the
same logits as feeding it whole. That is how the sampler decodes one token at a time.

Left out: attention (`return_attn=True` gives `attentions=None`) and the KV cache (an LSTM's
memory of the past *is* its state).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gptstudio.core.errors import ConfigError
from gptstudio.core.model.config import LSTMConfig
from gptstudio.core.model.output import ModelOutput


class LSTMLanguageModel(nn.Module):
    """Embedding, `n_layer` stacked LSTM layers of width `n_hidden`, and a linear head."""

    def __init__(self, config: LSTMConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        # nn.LSTM applies its dropout only *between* layers (and warns when there is only one).
        between_layers = config.dropout if config.n_layer > 1 else 0.0
        self.lstm = nn.LSTM(
            config.n_embd, config.n_hidden, num_layers=config.n_layer,
            dropout=between_layers, batch_first=True,
        )
        self.head = nn.Linear(config.n_hidden, config.vocab_size)

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        *,
        return_attn: bool = False,
        kv_cache: object | None = None,
        state: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> ModelOutput:
        """idx: (B, T) ids; targets: (B, T) or None (-1 = ignore); state: (h, c) or None.

        h and c are each (n_layer, B, n_hidden); None starts from zeros. The output's `state`
        is the state after the last position.
        """
        if kv_cache is not None:
            raise ConfigError("The LSTM has no KV cache: carry its `state` between calls instead.")
        emb = self.drop(self.embedding(idx))  # (B, T, n_embd)
        hidden, new_state = self.lstm(emb, state)  # (B, T, n_hidden), ((L, B, H), (L, B, H))
        logits = self.head(self.drop(hidden))  # (B, T, vocab_size)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1
            )
        return ModelOutput(logits=logits, loss=loss, attentions=None, state=new_state)
