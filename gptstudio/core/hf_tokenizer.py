"""Our tokenizers in Hugging Face's `tokenizer.json` format, so an exported model is usable.

`AutoTokenizer.from_pretrained(folder)` reads `tokenizer.json` (the `tokenizers` library's own
format) plus `tokenizer_config.json`. Without them it silently builds an empty tokenizer and a
text-generation pipeline returns the prompt unchanged. This module writes both, by hand (no
`transformers` import at run time), so that the exported tokenizer gives our ids and decodes
exactly:

- a byte-level BPE (ours or tiktoken's ranks): a `BPE` model whose vocabulary and merges are
  written in GPT-2's byte-to-unicode alphabet, the same split pattern as ours (an "isolated"
  `Split` pre-tokenizer), then `ByteLevel` without its own regex; `ignore_merges` makes a piece
  that is a whole token map to it directly, as tiktoken does;
- characters: a `BPE` model without merges over the characters, no pre-tokenizer (so a text is
  cut into its characters) and a `Fuse` decoder (so they join without spaces);
- special tokens (`<|endoftext|>`) as added tokens, the end-of-text token as eos and bos.
Left out: the weights (`hf_gpt2.py`).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from gptstudio.core.atomic import atomic_write_text
from gptstudio.core.errors import TokenizerError
from gptstudio.core.tokenizers import BPETokenizer, CharTokenizer, Tokenizer

TOKENIZER_JSON = "tokenizer.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
SPECIAL_TOKENS_MAP = "special_tokens_map.json"


@lru_cache(maxsize=1)
def byte_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in for each byte: printable Latin-1 bytes stand for themselves,
    the others are moved to code points from 256 on (so no token string holds a space or a
    control character).

    >>> table = byte_to_unicode()
    >>> table[ord("a")], table[ord(" ")], table[ord("\\n")]
    ('a', 'Ġ', 'Ċ')
    """
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


def _unicode_of(token: bytes) -> str:
    table = byte_to_unicode()
    return "".join(table[b] for b in token)


def _added_tokens(tokenizer: Tokenizer) -> list[dict[str, Any]]:
    return [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for s, i in sorted(tokenizer.special_tokens.items(), key=lambda kv: kv[1])]


def _bpe_json(tokenizer: BPETokenizer) -> dict[str, Any]:
    vocab = {_unicode_of(token): rank for token, rank in tokenizer.ranks.items()}
    merges = [[_unicode_of(tokenizer.token_bytes(left)), _unicode_of(tokenizer.token_bytes(right))]
              for left, right in tokenizer.merges]
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": _added_tokens(tokenizer), "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": tokenizer.pattern_regex},
             "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
             "use_regex": False},
        ]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                    "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": True,
                  "vocab": vocab, "merges": merges},
    }


def _char_json(tokenizer: CharTokenizer) -> dict[str, Any]:
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": _added_tokens(tokenizer), "normalizer": None, "pre_tokenizer": None,
        "post_processor": None, "decoder": {"type": "Fuse"},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": None, "end_of_word_suffix": None,
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {c: i for i, c in enumerate(tokenizer.chars)}, "merges": []},
    }


def hf_tokenizer_json(tokenizer: Tokenizer) -> dict[str, Any]:
    """The `tokenizer.json` document for `tokenizer` (TokenizerError for a kind it cannot
    express)."""
    if isinstance(tokenizer, BPETokenizer):
        return _bpe_json(tokenizer)
    if isinstance(tokenizer, CharTokenizer):
        return _char_json(tokenizer)
    raise TokenizerError(f"A {type(tokenizer).__name__} cannot be exported for Hugging Face.")


def export_hf_tokenizer(tokenizer: Tokenizer, out_dir: str | os.PathLike,
                        *, model_max_length: int | None = None) -> Path:
    """Write tokenizer.json, tokenizer_config.json and special_tokens_map.json into `out_dir`
    (atomically, each); returns `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    document = hf_tokenizer_json(tokenizer)
    atomic_write_text(out / TOKENIZER_JSON, json.dumps(document, ensure_ascii=False))
    eot = next((s for s, i in tokenizer.special_tokens.items() if i == tokenizer.eot_id), None)
    config: dict[str, Any] = {
        "tokenizer_class": "PreTrainedTokenizerFast", "clean_up_tokenization_spaces": False,
        "add_prefix_space": False, "model_max_length": model_max_length or 1_000_000_000,
    }
    specials: dict[str, str] = {}
    if eot is not None:
        specials = {"bos_token": eot, "eos_token": eot, "unk_token": eot}
        config.update(specials)
    atomic_write_text(out / TOKENIZER_CONFIG, json.dumps(config, indent=2))
    atomic_write_text(out / SPECIAL_TOKENS_MAP, json.dumps(specials, indent=2))
    return out
