"""Size, compute and memory of a model, worked out from its config *before* anything is allocated.

Everything here is arithmetic on the config: no tensor is created, so even gpt2-xl can be sized on a
small laptop, and a model that would not fit is refused with a sentence instead of an OOM crash.

Parameter count (GPT, C = n_embd, V = vocab_size, T = block_size, L = n_layer, b = 1 with biases):
    embeddings   V*C (tokens) + T*C (positions)
    per block    12*C^2 (attention 4*C^2, MLP 8*C^2) + b*9*C (linear biases) + 2*(1+b)*C (norms)
    final norm   (1+b)*C;   LM head V*C only when it is not tied to the token embedding
"Non-embedding" parameters leave out the token and position tables (Kaplan et al., 2020).

FLOPs per token: every weight in a matmul costs 2 FLOPs per token forward and 4 more backward,
so training costs 6*N (N = matmul weights, including the LM head's V*C even when tied) plus the
attention scores and their weighted sum, 2 matmuls of T*C per layer: 4*L*T*C forward, 12*L*T*C
with the backward pass (at full context T). Inference (training=False): 2*N + 4*L*T*C.

Memory (fp32, 4 bytes a number), training:
    weights N_all, gradients N_all, AdamW state 2*N_all (first and second moments);
    activations kept for the backward pass, per layer about 17*B*T*C (layer inputs, q/k/v, the
    4x-wide MLP hidden twice) plus B*n_head*T^2 (one attention matrix), plus about 3*B*T*C for
    the embeddings and final norm and 2*B*T*V for the logits and their softmax.
Inference: weights, one layer's working set, the logits, and a full KV cache (2*L*B*T*C).
These are estimates (within tens of percent): allocator slack and the Python process are extra.

Left out: building the model (`build.py`) and bf16 (the trainer may use less memory than this).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


from gptstudio.core.system import available_memory as system_available_memory
from gptstudio.core.errors import ConfigError
from gptstudio.core.model.config import GPTConfig, LSTMConfig

BYTES_PER_FLOAT = 4  # fp32


@dataclass(frozen=True)
class ModelEstimate:
    """What a config costs; bytes assume fp32. `total_bytes` is the sum of the four parts."""

    n_params: int
    n_params_non_embedding: int
    flops_per_token: int
    weights_bytes: int
    optimizer_bytes: int  # AdamW's two moments (0 when not training)
    gradient_bytes: int  # one gradient per parameter (0 when not training)
    activation_bytes: int
    total_bytes: int


def _gpt_counts(c: GPTConfig) -> tuple[int, int, int]:
    """(all parameters, non-embedding parameters, matmul weights) of a GPT."""
    C, V, T, L, b = c.n_embd, c.vocab_size, c.block_size, c.n_layer, int(c.bias)
    embeddings = V * C + T * C
    norm = (1 + b) * C
    per_block = 12 * C * C + b * 9 * C + 2 * norm
    lm_head = 0 if c.tie_weights else V * C
    n_params = embeddings + L * per_block + norm + lm_head
    matmul = L * 12 * C * C + V * C  # the LM head multiplies even when its matrix is tied
    return n_params, n_params - embeddings, matmul


def _lstm_counts(c: LSTMConfig) -> tuple[int, int, int]:
    """(all parameters, non-embedding parameters, matmul weights) of an LSTM model."""
    H = c.n_hidden
    matmul = 0
    biases = 0
    for layer in range(c.n_layer):
        n_in = c.n_embd if layer == 0 else H
        matmul += 4 * H * n_in + 4 * H * H  # input and recurrent weights of the 4 gates
        biases += 2 * 4 * H  # PyTorch keeps two bias vectors (b_ih, b_hh)
    matmul += H * c.vocab_size
    head_bias = c.vocab_size
    embeddings = c.vocab_size * c.n_embd
    n_params = embeddings + matmul + biases + head_bias
    return n_params, n_params - embeddings, matmul


def _gpt_activations(c: GPTConfig, batch_size: int, training: bool) -> int:
    B, T, C, V, L, H = batch_size, c.block_size, c.n_embd, c.vocab_size, c.n_layer, c.n_head
    per_layer = 17 * B * T * C + B * H * T * T
    logits = 2 * B * T * V
    if training:
        return (L * per_layer + 3 * B * T * C + logits) * BYTES_PER_FLOAT
    kv_cache = 2 * L * B * T * C
    return (per_layer + logits + kv_cache) * BYTES_PER_FLOAT


def _lstm_activations(c: LSTMConfig, batch_size: int, training: bool) -> int:
    B, T, H = batch_size, c.block_size, c.n_hidden
    per_layer = 7 * B * T * H  # gates (4H), cell, hidden and tanh(cell) at every step
    embeddings = B * T * c.n_embd
    logits = 2 * B * T * c.vocab_size
    layers = c.n_layer if training else 1
    return (layers * per_layer + embeddings + logits) * BYTES_PER_FLOAT


def estimate(
    config: GPTConfig | LSTMConfig, batch_size: int = 1, *, training: bool = True
) -> ModelEstimate:
    """Parameters, FLOPs per token and fp32 memory of `config` at `batch_size`, without building it.

    >>> e = estimate(GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12,
    ...                        n_embd=768))
    >>> e.n_params  # GPT-2 small
    124439808
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(
            f"The batch size must be a whole number of at least 1, got {batch_size!r}."
        )
    if isinstance(config, GPTConfig):
        n_params, n_non_emb, matmul = _gpt_counts(config)
        c = config
        attention = c.n_layer * c.block_size * c.n_embd
        flops = (6 * matmul + 12 * attention) if training else (2 * matmul + 4 * attention)
        activations = _gpt_activations(config, batch_size, training)
    elif isinstance(config, LSTMConfig):
        n_params, n_non_emb, matmul = _lstm_counts(config)
        flops = (6 if training else 2) * matmul
        activations = _lstm_activations(config, batch_size, training)
    else:
        raise ConfigError(f"Cannot estimate a {type(config).__name__}: not a model config.")

    weights = n_params * BYTES_PER_FLOAT
    gradients = weights if training else 0
    optimizer = 2 * weights if training else 0
    return ModelEstimate(
        n_params=n_params,
        n_params_non_embedding=n_non_emb,
        flops_per_token=flops,
        weights_bytes=weights,
        optimizer_bytes=optimizer,
        gradient_bytes=gradients,
        activation_bytes=activations,
        total_bytes=weights + optimizer + gradients + activations,
    )


def human_bytes(n: int) -> str:
    """1536 -> '1.5 KB' (powers of 1024, one decimal)."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _read_cgroup_room(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """Memory left under a cgroup v2 limit (containers), or None without a limit."""
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((root / "memory.current").read_text().strip())
    except (OSError, ValueError):
        return None


def available_memory() -> int | None:
    """Bytes this process could still allocate, or None when the system does not say."""
    system = system_available_memory()  # psutil: MemAvailable on Linux, the same elsewhere
    known = [c for c in (system, _read_cgroup_room()) if c is not None]
    return min(known) if known else None


def check_fits(
    config: GPTConfig | LSTMConfig,
    batch_size: int,
    available_bytes: int | None = None,
    *,
    training: bool = True,
) -> ModelEstimate:
    """The estimate, or ConfigError when it needs more than the free memory.

    `available_bytes` defaults to what the system reports as available now; when the system does
    not say, nothing is refused.
    """
    est = estimate(config, batch_size, training=training)
    if available_bytes is None:
        available_bytes = available_memory()
    if available_bytes is not None and est.total_bytes > available_bytes:
        what = "train" if training else "run"
        parts = (
            f"weights {human_bytes(est.weights_bytes)}, optimizer "
            f"{human_bytes(est.optimizer_bytes)}, gradients {human_bytes(est.gradient_bytes)}, "
            f"activations {human_bytes(est.activation_bytes)}"
            if training
            else f"weights {human_bytes(est.weights_bytes)}, "
            f"activations {human_bytes(est.activation_bytes)}"
        )
        raise ConfigError(
            f"This model ({est.n_params / 1e6:,.1f}M parameters) needs about "
            f"{human_bytes(est.total_bytes)} to {what} at batch size {batch_size} ({parts}), "
            f"but only {human_bytes(available_bytes)} of memory is free. Choose a smaller "
            f"model, a shorter block_size or a smaller batch size."
        )
    return est
