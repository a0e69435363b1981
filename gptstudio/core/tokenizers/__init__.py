"""Tokenizers: text <-> integer ids. Character-level, byte-level BPE, and tiktoken's encodings.

Import from here; each concept lives in its own module (see docs/ARCHITECTURE.md):
`base` (the interface and the special-token policy), `char`, `bpe` (encoding, pure Python and
through tiktoken), `bpe_train` (training), `patterns` (split regexes), `tiktoken_named`
(OpenAI's encodings and .tiktoken files), `io` (save / load), `spec` (a user's choice as a string:
parse, label, resolve).
"""

from gptstudio.core.tokenizers.base import ENDOFTEXT, Tokenizer
from gptstudio.core.tokenizers.bpe import BPETokenizer
from gptstudio.core.tokenizers.bpe_train import (
    MergeEvent,
    WordCountEvent,
    iter_bpe_training,
    iter_bpe_training_chunks,
    train_bpe,
    train_bpe_chunks,
)
from gptstudio.core.tokenizers.char import CharScanEvent, CharTokenizer
from gptstudio.core.tokenizers.io import load_tokenizer, save_tokenizer, tokenizer_from_dict
from gptstudio.core.tokenizers.patterns import GPT2_PATTERN, GPT4_PATTERN, PATTERNS
from gptstudio.core.tokenizers.spec import (
    TokenizerSpec,
    parse_tokenizer_spec,
    resolve_tokenizer,
    tokenizer_spec_label,
)
from gptstudio.core.tokenizers.tiktoken_named import (
    APP_ENCODINGS,
    NAMED_ENCODINGS,
    TiktokenTokenizer,
    named_encoding_status,
    named_encoding_statuses,
)

__all__ = [
    "APP_ENCODINGS",
    "ENDOFTEXT",
    "GPT2_PATTERN",
    "GPT4_PATTERN",
    "NAMED_ENCODINGS",
    "PATTERNS",
    "BPETokenizer",
    "CharScanEvent",
    "CharTokenizer",
    "MergeEvent",
    "TiktokenTokenizer",
    "Tokenizer",
    "TokenizerSpec",
    "WordCountEvent",
    "iter_bpe_training",
    "iter_bpe_training_chunks",
    "load_tokenizer",
    "named_encoding_status",
    "named_encoding_statuses",
    "parse_tokenizer_spec",
    "resolve_tokenizer",
    "save_tokenizer",
    "tokenizer_from_dict",
    "tokenizer_spec_label",
    "train_bpe",
    "train_bpe_chunks",
]
