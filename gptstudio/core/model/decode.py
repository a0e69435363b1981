"""A decode-only fast path: one new token per sequence, read against the KV cache.

Generating text calls the GPT once per token with a single position. The plain forward
(`gpt.py` -> `blocks.py` -> `attention.py`) is written to be read and to cover every case
(training, dropout, prompts, attention maps); for one position most of its work is Python:
about a dozen module calls per layer, views and transposes, dropout layers that do nothing in
eval mode. Against a `gpt2`-sized model that overhead is a visible share of each token, next
to the matrix products that stream the weights (figures in docs/MEASUREMENTS.md).

`decode_step` computes the very same thing with the same kernels in the same order, calling the
functional ops directly on weights gathered once per cache (`DecodePlan`):

    x = wte[id] + wpe[pos]
    per layer: h = LN1(x); q, k, v = h @ Wqkv; cache[pos] = k, v
               x += attention(q, cache[:pos+1]) @ Wproj; x += MLP(LN2(x))
    logits = LN_f(x) @ Whead

so its logits equal the plain path's (tests/test_decode_fast.py). Attention runs in the dtype
the plain path would choose (fp32 for a bf16 model on the CPU).

The switch: `GPT.fast_decode` (True by default; set it False on a model, or on the class, for the
plain path). `GPT.forward` takes this path only when it is safe: eval mode, one position, a KV
cache, no targets, no attention maps, no autocast, and every module the one the plain path
would call (no LoRA wrapper, no subclass with its own forward, no hooks); otherwise it runs the
plain forward. The plan is built once per cache, i.e. once per generation.

Left out: batches with different lengths (the cache shares one length), torch.compile.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as nn_module

from gptstudio.core.model.attention import CausalSelfAttention
from gptstudio.core.model.blocks import MLP, Block
from gptstudio.core.model.kv_cache import KVCache


def _is_plain_linear(m: nn.Module) -> bool:
    """A linear layer whose forward for one position is F.linear(x, weight, bias)."""
    return isinstance(m, nn.Linear) and (
        type(m).forward is nn.Linear.forward or getattr(type(m), "decodes_as_linear", False))


def _has_hooks(m: nn.Module) -> bool:
    return bool(m._forward_hooks or m._forward_pre_hooks)


def _attends_in_fp32(t: torch.Tensor) -> bool:
    # The rule of attention.py (bf16 on the CPU attends in fp32), without autocast: the fast
    # path does not run under autocast.
    return t.device.type == "cpu" and t.dtype == torch.bfloat16


class DecodePlan:
    """Per layer, the weights a one-position step multiplies by, in order (see module doc)."""

    def __init__(self, model: nn.Module) -> None:
        self.model_id = id(model)
        t = model.transformer
        cfg = model.config
        self.n_head, self.n_embd = cfg.n_head, cfg.n_embd
        self.wte, self.wpe = t.wte.weight, t.wpe.weight
        self.ln_f = (t.ln_f.weight, t.ln_f.bias, t.ln_f.eps)
        self.head = (model.lm_head.weight, model.lm_head.bias)
        self.layers = []
        for block in t.h:
            a, m = block.attn, block.mlp
            self.layers.append((
                (block.ln_1.weight, block.ln_1.bias, block.ln_1.eps),
                (a.c_attn.weight, a.c_attn.bias), (a.c_proj.weight, a.c_proj.bias),
                (block.ln_2.weight, block.ln_2.bias, block.ln_2.eps),
                (m.c_fc.weight, m.c_fc.bias), m.gelu.approximate,
                (m.c_proj.weight, m.c_proj.bias),
            ))


def plan_for(model: nn.Module) -> DecodePlan | None:
    """A DecodePlan when every module is the plain one the fast path mirrors, else None."""
    if nn_module._global_forward_hooks or nn_module._global_forward_pre_hooks:
        return None
    t = model.transformer
    parts = [model, t.wte, t.wpe, t.drop, t.ln_f, model.lm_head]
    for block in t.h:
        a, m = block.attn, block.mlp
        if (type(block).forward is not Block.forward
                or type(a).forward is not CausalSelfAttention.forward
                or type(m).forward is not MLP.forward):
            return None
        parts += [block, a, m, block.ln_1, block.ln_2, a.c_attn, a.c_proj, m.c_fc, m.c_proj,
                  m.gelu, a.resid_dropout, m.dropout]
        if not all(map(_is_plain_linear, (a.c_attn, a.c_proj, m.c_fc, m.c_proj))):
            return None
        if not (type(block.ln_1) is type(block.ln_2) is nn.LayerNorm
                and type(m.gelu) is nn.GELU):
            return None
    if (type(t.ln_f) is not nn.LayerNorm or not _is_plain_linear(model.lm_head)
            or type(t.wte) is not nn.Embedding or type(t.wpe) is not nn.Embedding
            or any(map(_has_hooks, parts))):
        return None
    return DecodePlan(model)


def can_decode_fast(model: nn.Module, idx: torch.Tensor, cache: KVCache) -> bool:
    """Whether `decode_step` may replace the plain forward for this call."""
    if model.training or idx.shape[1] != 1 or torch.is_autocast_enabled(idx.device.type):
        return False
    plan = cache.decode_plan
    if plan is None or plan.model_id != id(model):
        plan = plan_for(model)
        if plan is None:
            return False
        cache.decode_plan = plan
    return True


def decode_step(model: nn.Module, idx: torch.Tensor, cache: KVCache) -> torch.Tensor:
    """Logits (B, 1, vocab) for one new token per row of idx (B, 1); stores its keys and
    values in `cache` and advances it. Call only after `can_decode_fast` said yes."""
    plan: DecodePlan = cache.decode_plan
    B, C, nh = idx.shape[0], plan.n_embd, plan.n_head
    hs = C // nh
    pos = cache.length
    end = pos + 1
    shape = (C,)
    x = F.embedding(idx, plan.wte) + plan.wpe[pos]  # (B, 1, C)
    # The dtype attention runs in, as attention.py chooses it.
    fp32 = _attends_in_fp32(x) or _attends_in_fp32(cache.keys)
    attn_dtype = torch.float32 if fp32 else x.dtype
    for i, (ln_1, c_attn, attn_proj, ln_2, c_fc, approximate, mlp_proj) in enumerate(plan.layers):
        qkv = F.linear(F.layer_norm(x, shape, *ln_1), *c_attn).to(attn_dtype)  # (B, 1, 3C)
        # One position: (B, 1, 3C) is already laid out as (B, q/k/v, head, 1, head_dim).
        q, k_new, v_new = qkv.view(B, 3, nh, 1, hs).unbind(1)  # each (B, nh, 1, hs)
        keys, values = cache.keys[i], cache.values[i]  # (B, nh, max_len, hs)
        keys.narrow(2, pos, 1).copy_(k_new)
        values.narrow(2, pos, 1).copy_(v_new)
        k, v = keys.narrow(2, 0, end), values.narrow(2, 0, end)
        if k.dtype != attn_dtype:
            k, v = k.to(attn_dtype), v.to(attn_dtype)
        context = F.scaled_dot_product_attention(q, k, v)  # (B, nh, 1, hs)
        x = x + F.linear(context.reshape(B, 1, C).to(x.dtype), *attn_proj)
        h = F.gelu(F.linear(F.layer_norm(x, shape, *ln_2), *c_fc), approximate=approximate)
        x = x + F.linear(h, *mlp_proj)
    cache.advance(1)
    return F.linear(F.layer_norm(x, shape, *plan.ln_f), *plan.head)
