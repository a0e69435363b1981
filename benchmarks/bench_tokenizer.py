"""Benchmark: our BPE trainer and encoders against references, on Tiny Shakespeare.

Run:  .venv/bin/python benchmarks/bench_tokenizer.py [--repeats N]

Prints, in one run (ours and the reference measured side by side, interleaved, best of N, so a
busy machine slows both alike):

1. Training time at vocab 512 and 4096: our trainer vs Hugging Face `tokenizers`' byte-level BPE
   trainer (Rust, may use both cores). Target: within 10x at 4096.
2. Time per merge: ours vs a naive trainer that recounts every pair of the whole pre-tokenized
   text before each merge (the textbook loop, written below; timed on its first merges, since
   255 of them would take minutes). Also a naive trainer that recounts over distinct words only,
   to show what the incremental update alone brings. Target: at least 100x faster per merge.
3. Encoding throughput: our fast path (tiktoken on our ranks, plus our special-token check) vs
   tiktoken called directly on the same ranks (target >= 0.9x), and our pure-Python encoder.

This is not a test: it asserts nothing and prints figures.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Callable

import tiktoken

from gptstudio.core.tokenizers import ENDOFTEXT, BPETokenizer, TiktokenTokenizer
from gptstudio.core.tokenizers.bpe_train import count_words, merge_word
from gptstudio.core.tokenizers.patterns import GPT2_PATTERN, compile_pattern
from gptstudio.paths import shared_data_dir


def best_time(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best time of each function, running them in turn so that load affects all alike."""
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            best[name] = min(best[name], best_time(fn, 1))
    return best


# -- references ---------------------------------------------------------------------------------
def train_hf(text: str, vocab_size: int) -> int:
    """Hugging Face tokenizers' byte-level BPE trainer (GPT-2's pre-tokenizer and alphabet)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=[ENDOFTEXT], show_progress=False,
    )
    lines = text.splitlines(keepends=True)
    chunks = ["".join(lines[i:i + 1000]) for i in range(0, len(lines), 1000)]
    tok.train_from_iterator(chunks, trainer=trainer)
    return tok.get_vocab_size()


def naive_full_text(text: str, n_merges: int) -> list[tuple[int, int]]:
    """The textbook trainer: every merge recounts all pairs of the whole pre-tokenized text."""
    chunks = [list(piece.encode("utf-8")) for piece in compile_pattern(GPT2_PATTERN).findall(text)]
    merges = []
    for index in range(n_merges):
        counts: dict[tuple[int, int], int] = {}
        for ids in chunks:
            for pair in zip(ids, ids[1:]):
                counts[pair] = counts.get(pair, 0) + 1
        best = min(counts, key=lambda p: (-counts[p], p))
        chunks = [merge_word(ids, best, 256 + index) for ids in chunks]
        merges.append(best)
    return merges


def naive_unique_words(text: str, n_merges: int) -> list[tuple[int, int]]:
    """Recount every merge, but over distinct words with frequencies (no incremental update)."""
    word_counts = count_words(text, "gpt2")
    words = [list(w.encode("utf-8")) for w in word_counts]
    freqs = list(word_counts.values())
    merges = []
    for index in range(n_merges):
        counts: Counter[tuple[int, int]] = Counter()
        for word, freq in zip(words, freqs):
            for pair in zip(word, word[1:]):
                counts[pair] += freq
        best = min(counts, key=lambda p: (-counts[p], p))
        words = [merge_word(w, best, 256 + index) for w in words]
        merges.append(best)
    return merges


# -- the benchmark --------------------------------------------------------------------------------
def bench_training(text: str, repeats: int) -> None:
    print("1. BPE training on Tiny Shakespeare (gpt2 pattern, <|endoftext|> included)")
    print(f"   {'vocab':>6} {'ours s':>8} {'HF tokenizers s':>16} {'ours/HF':>8}")
    for vocab in (512, 4096):
        times = interleaved({
            "ours": lambda: BPETokenizer.train(text, vocab),
            "hf": lambda: train_hf(text, vocab),
        }, repeats)
        print(f"   {vocab:>6} {times['ours']:>8.3f} {times['hf']:>16.3f} "
              f"{times['ours'] / times['hf']:>7.2f}x   (target at 4096: <= 10x)")


def bench_per_merge(text: str, repeats: int, naive_merges: int) -> None:
    print("2. Time per merge (ours: whole training at vocab 512 incl. pre-tokenization / 255)")
    ours = best_time(lambda: BPETokenizer.train(text, 512), repeats) / 255
    # The naive trainers' set-up (pre-tokenizing) is tiny next to their per-merge recount.
    full = best_time(lambda: naive_full_text(text, naive_merges), 1) / naive_merges
    unique = best_time(lambda: naive_unique_words(text, naive_merges * 4), 1) / (naive_merges * 4)
    assert naive_unique_words(text, 20) == BPETokenizer.train(text, 256 + 1 + 20).merges
    print(f"   ours (incremental)               {ours * 1e3:9.3f} ms/merge")
    print(f"   naive, recount whole text        {full * 1e3:9.3f} ms/merge   "
          f"ours is {full / ours:,.0f}x faster (target >= 100x)")
    print(f"   naive, recount distinct words    {unique * 1e3:9.3f} ms/merge   "
          f"ours is {unique / ours:,.0f}x faster")


def bench_encoding(text: str, gpt2_path, repeats: int) -> None:
    n_bytes = len(text.encode("utf-8"))
    print(f"3. Encoding Tiny Shakespeare ({n_bytes / 1e6:.2f} MB), MB/s (best of {repeats})")
    print(f"   {'tokenizer':<18} {'ours fast':>10} {'tiktoken':>10} {'ratio':>7} "
          f"{'ours encode()':>14} {'ratio':>7} {'pure Python':>12}")
    cases = {
        "BPE 4096 (ours)": BPETokenizer.train(text, 4096),
        "GPT-2 ranks": TiktokenTokenizer.from_file(gpt2_path),
    }
    for label, tok in cases.items():
        direct = tiktoken.Encoding("direct", pat_str=tok.pattern_regex,
                                   mergeable_ranks=tok.ranks, special_tokens=tok.special_tokens)
        assert direct.encode_ordinary(text) == tok.encode(text) == tok.encode_slow(text)
        times = interleaved({
            "ours": lambda: tok.encode_ordinary(text),
            "tiktoken": lambda: direct.encode_ordinary(text),
            "ours_checked": lambda: tok.encode(text),  # + our special-token check
            "tiktoken_checked": lambda: direct.encode(text),  # + tiktoken's own check
        }, repeats)
        slow = best_time(lambda: tok.encode_slow(text), 1)
        mbps = {k: n_bytes / 1e6 / v for k, v in times.items()}
        print(f"   {label:<18} {mbps['ours']:>10.2f} {mbps['tiktoken']:>10.2f} "
              f"{mbps['ours'] / mbps['tiktoken']:>6.2f}x {mbps['ours_checked']:>14.2f} "
              f"{mbps['ours_checked'] / mbps['tiktoken_checked']:>6.2f}x "
              f"{n_bytes / 1e6 / slow:>12.2f}")
    print("   (ratio = ours / tiktoken on the same ranks; target >= 0.9x. 'encode()' compares "
          "encode with\n    special-token checking on both sides. Pure Python memoizes "
          "repeated words.)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-merges", type=int, default=8,
                        help="merges to time the whole-text naive trainer on")
    args = parser.parse_args()
    data = shared_data_dir()
    text = (data / "tinyshakespeare.txt").read_text(encoding="utf-8")
    print(f"Tiny Shakespeare: {len(text):,} characters\n")
    bench_training(text, args.repeats)
    print()
    bench_per_merge(text, args.repeats, args.naive_merges)
    print()
    # Encoding takes ~0.1 s a call, so many rounds are cheap and tame the noise of a busy machine.
    bench_encoding(text, data / "gpt2.tiktoken", max(args.repeats * 7, 7))


if __name__ == "__main__":
    main()
