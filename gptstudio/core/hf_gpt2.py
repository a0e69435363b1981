"""GPT-2 interoperability: read and write Hugging Face's GPT-2 weight layout.

Our GPT uses GPT-2's parameter names, so the two layouts differ in only three ways:
1. Hugging Face keeps the four big matrices of a block (`attn.c_attn`, `attn.c_proj`, `mlp.c_fc`,
   `mlp.c_proj`) in its `Conv1D` layout, (in_features, out_features): the transpose of
   `nn.Linear`'s (out, in). We transpose them on the way in and on the way out.
2. Keys may or may not start with `transformer.` (files saved from `GPT2LMHeadModel` have it,
   the original hub files saved from `GPT2Model` do not); older files also hold the causal-mask
   buffers `h.N.attn.bias` / `h.N.attn.masked_bias`, which are not weights and are skipped.
3. The tied LM head is usually not stored at all (it *is* the token embedding).

Import infers the model size from the tensor shapes (any GPT-2 size works); the number of heads
cannot be seen in any shape, so it comes from `config.json` when one is there, else GPT-2's
64-wide heads are assumed. Imported models get dropout 0 (a training choice, not a property of
the weights). Export writes `model.safetensors` + `config.json` that
`transformers.GPT2LMHeadModel.from_pretrained(folder)` loads (and, given the tokenizer, the files
`AutoTokenizer` and the text-generation pipeline need); GPT-2 always has biases, so a model
without them is written with zero biases (the same function). Nothing here imports `transformers`.

Left out: the tokenizer's files (`hf_tokenizer.py`; GPT-2's own tokenizer is
`TiktokenTokenizer.named("gpt2")`), sharded files, fp16 export.
"""

from __future__ import annotations

import json
import math
import re
from os import PathLike
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_to_bytes

from gptstudio.core.errors import CheckpointError, ConfigError
from gptstudio.core.model.blocks import LAYER_NORM_EPS
from gptstudio.core.model.config import GPTConfig
from gptstudio.core.model.gpt import GPT
from gptstudio.core.atomic import atomic_write_bytes
from gptstudio.core.tokenizers import Tokenizer

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
GENERATION_CONFIG_NAME = "generation_config.json"
GPT2_HEAD_DIM = 64  # every published GPT-2 size uses 64-wide heads
CONV1D_SUFFIXES = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight",
                   "mlp.c_proj.weight")
MASK_BUFFER = re.compile(r"^h\.\d+\.attn\.(bias|masked_bias)$")
# transformers' names of the GELUs our MLP computes (GPTConfig.activation), and back.
HF_ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu"}
OUR_ACTIVATIONS = {"gelu_tanh": "gelu_new", "gelu": "gelu"}


# -- import ----------------------------------------------------------------------------------------
def import_hf_gpt2(
    path: str | PathLike[str], *, config_path: str | PathLike[str] | None = None
) -> GPT:
    """A GPT holding the weights of a Hugging Face GPT-2 `model.safetensors`.

    `path` is the file or a folder holding it (and maybe `config.json`, used when present).
    Raises CheckpointError for a missing, corrupt or foreign file, or for missing, unexpected or
    wrongly shaped weights.
    """
    path = Path(path)
    weights_path = path / WEIGHTS_NAME if path.is_dir() else path
    if config_path is None and (weights_path.parent / CONFIG_NAME).is_file():
        config_path = weights_path.parent / CONFIG_NAME
    if not weights_path.is_file():
        raise CheckpointError(f"No GPT-2 weights at {weights_path}: expected a {WEIGHTS_NAME}.")
    try:
        tensors = load_file(weights_path)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{weights_path} is not a readable safetensors file ({exc})."
        ) from None
    hf_config = _read_hf_config(Path(config_path)) if config_path is not None else None
    config, state_dict = hf_to_state_dict(tensors, hf_config)
    model = GPT(config)
    model.load_state_dict(state_dict, strict=True)  # names and shapes checked already
    return model.eval()


def _read_hf_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"Cannot read the GPT-2 config {path}: {exc}.") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{path} is not a GPT-2 config (expected a JSON object).")
    return config


def _check_hf_config(hf: dict[str, Any]) -> None:
    """Refuse configs whose maths our GPT does not reproduce (it would give other logits)."""
    problems = []
    if hf.get("model_type", "gpt2") != "gpt2":
        problems.append(f"model_type is {hf['model_type']!r}, not 'gpt2'")
    if hf.get("activation_function", "gelu_new") not in HF_ACTIVATIONS:
        problems.append(f"activation_function {hf['activation_function']!r} is not one of "
                        f"{', '.join(HF_ACTIVATIONS)}")
    if not math.isclose(hf.get("layer_norm_epsilon", LAYER_NORM_EPS), LAYER_NORM_EPS):
        problems.append(f"layer_norm_epsilon is {hf['layer_norm_epsilon']}, not 1e-05")
    if hf.get("scale_attn_by_inverse_layer_idx", False):
        problems.append("scale_attn_by_inverse_layer_idx is set")
    if not hf.get("scale_attn_weights", True):
        problems.append("scale_attn_weights is off")
    if problems:
        raise CheckpointError("This GPT-2 variant is not supported: " + "; ".join(problems) + ".")


def hf_to_state_dict(
    tensors: dict[str, torch.Tensor], hf_config: dict[str, Any] | None = None
) -> tuple[GPTConfig, dict[str, torch.Tensor]]:
    """Our config and state dict from Hugging Face GPT-2 tensors (and optionally config.json)."""
    hf = {}
    for key, tensor in tensors.items():
        short = key.removeprefix("transformer.")
        if not MASK_BUFFER.match(short):
            hf[short] = tensor
    for needed in ("wte.weight", "wpe.weight"):
        if needed not in hf:
            raise CheckpointError(
                f"This is not a GPT-2 checkpoint: it has no {needed!r} "
                f"(first keys: {', '.join(sorted(tensors)[:4]) or 'none'})."
            )
    not_float = sorted(k for k, t in hf.items() if not t.is_floating_point())
    if not_float:  # int weights would be read as whole numbers: nothing a GPT-2 was trained as
        raise CheckpointError(
            f"The GPT-2 checkpoint holds weights that are not floating point "
            f"({hf[not_float[0]].dtype}: {_first(not_float)}); weights must be float32, float16 "
            "or bfloat16 (a quantized file cannot be imported)."
        )
    not_finite = sorted(k for k, t in hf.items() if not bool(torch.isfinite(t).all()))
    if not_finite:
        raise CheckpointError(
            f"The GPT-2 checkpoint holds weights that are not finite (NaN or infinity in "
            f"{_first(not_finite)}); it cannot be used."
        )
    if hf_config is not None:
        _check_hf_config(hf_config)
    config = _infer_config(hf, hf_config or {})

    expected = _our_shapes(config)
    state_dict: dict[str, torch.Tensor] = {}
    for ours, shape in expected.items():
        if ours == "lm_head.weight" and config.tie_weights:
            continue  # filled from the embedding below
        theirs = ours.removeprefix("transformer.")
        if theirs not in hf:
            continue  # reported with the other missing keys
        tensor = hf.pop(theirs).float()
        if theirs.endswith(CONV1D_SUFFIXES):
            tensor = tensor.t()  # Conv1D (in, out) -> Linear (out, in)
        if tuple(tensor.shape) != shape:
            raise CheckpointError(
                f"Weight {theirs!r} has shape {tuple(tensor.shape)}, but a model with "
                f"n_embd={config.n_embd} and vocab_size={config.vocab_size} needs {shape}."
            )
        state_dict[ours] = tensor.contiguous()
    if config.tie_weights:
        hf.pop("lm_head.weight", None)  # equal to wte (checked when inferring the config)
        state_dict["lm_head.weight"] = state_dict["transformer.wte.weight"]

    missing = sorted(set(expected) - set(state_dict))
    if missing:
        raise CheckpointError(
            f"The GPT-2 checkpoint lacks {len(missing)} weight(s): {_first(missing)}."
        )
    if hf:
        raise CheckpointError(
            f"The GPT-2 checkpoint has {len(hf)} unexpected weight(s): {_first(sorted(hf))}."
        )
    return config, state_dict


def _first(names: list[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def _infer_config(hf: dict[str, torch.Tensor], hf_config: dict[str, Any]) -> GPTConfig:
    vocab_size, n_embd = hf["wte.weight"].shape
    block_size = hf["wpe.weight"].shape[0]
    layers = {int(m.group(1)) for k in hf if (m := re.match(r"^h\.(\d+)\.", k))}
    n_layer = max(layers) + 1 if layers else 0
    if n_layer == 0 or layers != set(range(n_layer)):
        raise CheckpointError(f"The GPT-2 checkpoint's blocks are not numbered 0..n: {layers}.")
    if "n_head" in hf_config:
        n_head = hf_config["n_head"]
    elif n_embd % GPT2_HEAD_DIM == 0:
        n_head = n_embd // GPT2_HEAD_DIM
    else:
        raise CheckpointError(
            f"Cannot tell the number of heads of this {n_embd}-wide model: put its config.json "
            f"(with n_head) next to the weights."
        )
    for name, value in (("vocab_size", vocab_size), ("n_positions", block_size),
                        ("n_embd", n_embd), ("n_layer", n_layer)):
        if name in hf_config and hf_config[name] != value:
            raise CheckpointError(
                f"config.json says {name}={hf_config[name]}, but the weights have {value}."
            )
    if hf_config.get("n_inner") not in (None, 4 * n_embd):
        raise CheckpointError(f"config.json says n_inner={hf_config['n_inner']}: this GPT-2 "
                              f"variant is not supported (the MLP must be 4 x n_embd wide).")
    head = hf.get("lm_head.weight")
    tied = head is None or (head.shape == hf["wte.weight"].shape
                            and torch.equal(head, hf["wte.weight"]))
    if hf_config.get("tie_word_embeddings") is False and head is None:
        raise CheckpointError("config.json says the LM head is untied, but it is not stored.")
    try:
        return GPTConfig(
            vocab_size=int(vocab_size), block_size=int(block_size), n_layer=n_layer,
            n_head=n_head, n_embd=int(n_embd), dropout=0.0, bias=True, tie_weights=tied,
            activation=HF_ACTIVATIONS[hf_config.get("activation_function", "gelu_new")],
        )
    except ConfigError as exc:
        raise CheckpointError(
            f"The GPT-2 checkpoint describes an impossible model: {exc}"
        ) from None


def _our_shapes(config: GPTConfig) -> dict[str, tuple[int, ...]]:
    """Every parameter name of our GPT with its shape (a meta-device build: no memory used)."""
    with torch.device("meta"):
        model = GPT(config)
    return {name: tuple(t.shape) for name, t in model.state_dict(keep_vars=True).items()}


# -- export ----------------------------------------------------------------------------------------
def export_hf_gpt2(
    model: GPT, out_dir: str | PathLike[str], *, eot_id: int | None = None,
    tokenizer: Tokenizer | None = None, overwrite: bool = False,
) -> Path:
    """Write `model` as `out_dir/model.safetensors` + `config.json` in Hugging Face's layout.

    `eot_id` (the tokenizer's end-of-text id) becomes the config's bos/eos token. With a
    `tokenizer`, its `tokenizer.json` (+ config) and a `generation_config.json` are written too,
    so `AutoTokenizer` and `pipeline("text-generation")` work on the folder as they are.
    CheckpointError for a folder inside a run folder (an export would mix with the run's own
    files), and for one that already holds an export unless `overwrite`.
    """
    if not isinstance(model, GPT):
        raise ConfigError("Only GPT models can be exported to the GPT-2 layout (not an LSTM).")
    config = model.config
    out_dir = Path(out_dir)
    check_export_folder(out_dir, overwrite=overwrite)
    if tokenizer is not None and eot_id is None:
        eot_id = tokenizer.eot_id
    tensors = to_hf_tensors(model)
    hf_config = hf_config_dict(config, eot_id=eot_id)
    blob = safetensors_to_bytes(tensors, metadata={"format": "pt"})
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out_dir / WEIGHTS_NAME, blob)
        atomic_write_bytes(out_dir / CONFIG_NAME,
                           (json.dumps(hf_config, indent=2) + "\n").encode("utf-8"))
        if tokenizer is not None:
            from gptstudio.core.hf_tokenizer import export_hf_tokenizer

            export_hf_tokenizer(tokenizer, out_dir, model_max_length=config.block_size)
            generation = {"bos_token_id": eot_id, "eos_token_id": eot_id,
                          "pad_token_id": eot_id, "max_length": config.block_size}
            atomic_write_bytes(out_dir / GENERATION_CONFIG_NAME,
                               (json.dumps(generation, indent=2) + "\n").encode("utf-8"))
    except OSError as exc:
        raise CheckpointError(f"Cannot write the GPT-2 export to {out_dir}: {exc}.") from None
    return out_dir


def check_export_folder(out_dir: Path, *, overwrite: bool = False) -> None:
    """Refuse to export into (or below) a run folder, or over an earlier export unless asked."""
    from gptstudio.core.train.run import Run  # run.py names what makes a run folder

    for folder in (out_dir, *out_dir.resolve().parents):
        if Run.exists(folder):
            raise CheckpointError(
                f"{out_dir} is inside the run folder {folder}: an export there would mix with "
                "the run's own files. Export to a folder of its own (e.g. exported/).")
    names = (WEIGHTS_NAME, CONFIG_NAME, GENERATION_CONFIG_NAME, "tokenizer.json")
    existing = [n for n in names if (out_dir / n).exists()]
    if existing and not overwrite:
        raise CheckpointError(
            f"{out_dir} already holds {', '.join(existing)}: pass --force to replace them, or "
            "export to another folder.")


def to_hf_tensors(model: GPT) -> dict[str, torch.Tensor]:
    """The model's weights under Hugging Face names (`transformer.` prefix, Conv1D layout)."""
    config = model.config
    tensors: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":
            if config.tie_weights:
                continue  # saved once, as the token embedding; from_pretrained re-ties it
            tensors[name] = tensor.detach().float().contiguous()
            continue
        tensor = tensor.detach().float()
        if name.endswith(CONV1D_SUFFIXES):
            tensor = tensor.t()  # Linear (out, in) -> Conv1D (in, out)
        tensors[name] = tensor.contiguous().clone()
    if not config.bias:
        # GPT-2 always has biases: zeros compute exactly what a bias-free layer computes.
        for name, shape in _our_shapes(config.replace(bias=True)).items():
            if name.endswith(".bias"):
                tensors[name] = torch.zeros(shape)
    return tensors


def hf_config_dict(config: GPTConfig, *, eot_id: int | None = None) -> dict[str, Any]:
    """A `config.json` for `transformers.GPT2Config` describing `config`."""
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": config.vocab_size,
        "n_positions": config.block_size,
        "n_embd": config.n_embd,
        "n_layer": config.n_layer,
        "n_head": config.n_head,
        "n_inner": None,  # 4 * n_embd
        "activation_function": OUR_ACTIVATIONS[config.activation],
        "resid_pdrop": config.dropout,
        "embd_pdrop": config.dropout,
        "attn_pdrop": config.dropout,
        "layer_norm_epsilon": LAYER_NORM_EPS,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "tie_word_embeddings": config.tie_weights,
        "bos_token_id": eot_id,
        "eos_token_id": eot_id,
    }
