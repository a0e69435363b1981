"""`GPT`: the whole decoder-only transformer, from token ids to next-token logits.

    ids (B, T) -> token embedding + position embedding -> dropout
               -> n_layer x Block (pre-norm attention + MLP)
               -> final LayerNorm -> LM head -> logits (B, T, vocab_size)

The LM head can share its matrix with the token embedding ("weight tying", as GPT-2 does): the
same vector that represents a token going in scores it coming out, and it saves
vocab_size x n_embd parameters. Initialisation follows GPT-2: N(0, 0.02) weights, zero biases,
and the projections that write into the residual stream scaled down by 1/sqrt(2 * n_layer) so that
the stream's variance does not grow with depth.

One new token against a KV cache (decoding) takes the decode-only fast path in `decode.py`,
which gives the same logits with less Python; `fast_decode = False` keeps the plain path.

Left out: training (the trainer builds the optimiser, `core.train.optimizer`), sampling
(`gptstudio.core.sampling`) and GPT-2 weight import/export (`gptstudio.core.hf_gpt2`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from gptstudio.core.errors import ConfigError
from gptstudio.core.model.blocks import LAYER_NORM_EPS, Block
from gptstudio.core.model.config import GPTConfig
from gptstudio.core.model.decode import can_decode_fast, decode_step
from gptstudio.core.model.kv_cache import KVCache
from gptstudio.core.model.linear import TransposedLinear, transposed_storage
from gptstudio.core.model.output import ModelOutput

INIT_STD = 0.02  # GPT-2's initializer_range


class GPT(nn.Module):
    """GPT-2-style language model. Parameter names match GPT-2's (`transformer.h.0.attn.c_attn`)."""

    # The switch of the decode fast path (see the module docstring); set it False on a model
    # (or on the class) for the plain path everywhere.
    fast_decode: bool = True

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            {
                "wte": nn.Embedding(config.vocab_size, config.n_embd),  # token embedding
                "wpe": nn.Embedding(config.block_size, config.n_embd),  # position embedding
                "drop": nn.Dropout(config.dropout),
                "h": nn.ModuleList(Block(config, i) for i in range(config.n_layer)),
                "ln_f": nn.LayerNorm(config.n_embd, eps=LAYER_NORM_EPS, bias=config.bias),
            }
        )
        self.lm_head = TransposedLinear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_weights:
            # One Parameter in two places: gradients from both uses add up in it. Stored like
            # the LM head's weight (see linear.py): decoding reads it as a head for every token.
            self.transformer.wte.weight = nn.Parameter(
                transposed_storage(config.vocab_size, config.n_embd))
            self.lm_head.weight = self.transformer.wte.weight
        self._init_weights()

    def _init_weights(self) -> None:
        residual_std = INIT_STD / math.sqrt(2 * self.config.n_layer)
        for name, module in self.named_modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                # Each block adds two branches to the residual stream (attention, MLP): scaling
                # their output projections keeps the sum's variance ~constant over depth.
                std = residual_std if name.endswith("c_proj") else INIT_STD
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        *,
        return_attn: bool = False,
        kv_cache: KVCache | None = None,
    ) -> ModelOutput:
        """idx: (B, T) token ids; targets: (B, T) next ids (-1 = ignore) or None.

        With `kv_cache`, idx holds only the *new* tokens; their positions continue from
        `kv_cache.length`, and the cache is extended by T.
        """
        B, T = idx.shape
        start = kv_cache.length if kv_cache is not None else 0
        if start + T > self.config.block_size:
            raise ConfigError(
                f"The model reads at most {self.config.block_size} tokens at once "
                f"(block_size), but got {start + T}. Crop the input to its last "
                f"{self.config.block_size} tokens."
            )
        if kv_cache is not None:
            kv_cache.check_room(T, B)
            if (self.fast_decode and targets is None and not return_attn
                    and can_decode_fast(self, idx, kv_cache)):
                return ModelOutput(logits=decode_step(self, idx, kv_cache))

        positions = torch.arange(start, start + T, device=idx.device)  # (T,)
        tok_emb = self.transformer.wte(idx)  # (B, T, C)
        pos_emb = self.transformer.wpe(positions)  # (T, C), broadcast over the batch
        x = self.transformer.drop(tok_emb + pos_emb)

        attentions: list[torch.Tensor] | None = [] if return_attn else None
        for block in self.transformer.h:
            x, attn_weights = block(x, return_attn=return_attn, kv_cache=kv_cache)
            if attentions is not None:
                attentions.append(attn_weights)
        if kv_cache is not None:
            kv_cache.advance(T)

        x = self.transformer.ln_f(x)
        logits = self.lm_head(x)  # (B, T, vocab_size)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(
                logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1
            )
        return ModelOutput(logits=logits, loss=loss, attentions=attentions)

    def new_kv_cache(self, batch_size: int = 1) -> KVCache:
        """An empty cache for incremental decoding, sized to block_size, on the model's device."""
        weight = self.transformer.wte.weight
        cfg = self.config
        return KVCache(
            cfg.n_layer, batch_size, cfg.n_head, cfg.block_size, cfg.head_dim,
            dtype=weight.dtype, device=weight.device,
        )
