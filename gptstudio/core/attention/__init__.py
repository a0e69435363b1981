"""Attention, looked at closely: one prompt's view, per-head statistics, records made during
training, and pictures of it all without Qt.

    view.py    inspect_prompt -> PromptView (AttentionMaps + NextTokens + an optional logit lens)
    stats.py   HeadStats per head (entropy, previous/first/same-token share, a label), one
               token's view, thumbnails, a synthetic task's ideal pattern
    record.py  AttentionRecorder (a Trainer hook) and the run folder's attention/ records
    png.py     heatmaps and grids as PNG files (numpy + zlib)

The maps themselves come from `gptstudio.core.inspect` through the model's explicit attention
path. Left out: widgets (the app's Attention tab) and printing (`gptstudio attention`).
"""

from gptstudio.core.attention.record import (
    AUTO_BUDGET,
    AUTO_STEPS,
    RECORD_MAX_TOKENS,
    AttentionRecord,
    AttentionRecorded,
    AttentionRecorder,
    RecordInfo,
    check_every,
    check_probe,
    default_probe,
    list_records,
    load_record,
    record_path,
    record_prompt,
    save_record,
)
from gptstudio.core.attention.stats import (
    THUMB_SIZE,
    GridSummary,
    HeadStats,
    TokenAttention,
    display_top,
    grid_summary,
    head_stats,
    ideal_mask,
    ideal_share,
    label_head,
    layer_stats,
    thumbnail,
    token_attention,
)
from gptstudio.core.attention.view import (
    TOP_K,
    NextTokens,
    PromptView,
    check_attention_model,
    encode_prompt,
    inspect_prompt,
    token_label,
)

__all__ = [
    "AUTO_BUDGET", "AUTO_STEPS", "RECORD_MAX_TOKENS", "THUMB_SIZE", "TOP_K", "AttentionRecord",
    "AttentionRecorded", "AttentionRecorder", "GridSummary", "HeadStats", "NextTokens",
    "PromptView", "RecordInfo", "TokenAttention", "check_attention_model", "check_every",
    "check_probe", "default_probe", "display_top", "encode_prompt", "grid_summary", "head_stats",
    "ideal_mask", "ideal_share", "inspect_prompt", "label_head", "layer_stats", "list_records",
    "load_record", "record_path", "record_prompt", "save_record", "thumbnail", "token_attention",
    "token_label",
]
