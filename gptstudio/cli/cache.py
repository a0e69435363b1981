"""`gptstudio cache [--clear]`: how much the token cache holds, and emptying it.

The token cache keeps each tokenized corpus so a second run starts at once; it is bounded by
`GPTSTUDIO_TOKEN_CACHE_MB` (least recently used caches go first). Left out: the cache itself
(`gptstudio.core.data.token_cache`).
"""

from __future__ import annotations

import argparse


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add `cache`."""
    cache = sub.add_parser("cache", help="show or clear the token cache")
    cache.add_argument("--clear", action="store_true", help="remove every cached corpus")
    cache.set_defaults(handler=show_or_clear)


def show_or_clear(args: argparse.Namespace) -> int:
    from gptstudio.core.data.token_cache import (
        cache_limit_bytes, clear_token_cache, default_token_cache_dir, token_cache_entries,
    )

    folder = default_token_cache_dir()
    if args.clear:
        freed = clear_token_cache(folder)
        print(f"cleared {folder}: {freed / (1 << 20):,.1f} MB freed")
        return 0
    entries = token_cache_entries(folder)
    total = sum(e.n_bytes for e in entries)
    print(f"{folder}: {len(entries)} cached corpora, {total / (1 << 20):,.1f} MB "
          f"(limit {cache_limit_bytes() / (1 << 20):,.0f} MB, GPTSTUDIO_TOKEN_CACHE_MB)")
    return 0
