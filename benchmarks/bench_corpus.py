"""Benchmark: a corpus larger than memory, streamed into the token cache.

Run:  nice -n 5 .venv/bin/python benchmarks/bench_corpus.py [--size-mb 1024] [--ref-mb 32]
                                                             [--bpe-mb 32] [--repeats 2]

1. Generates a corpus of `--size-mb` MB in a temp folder, streaming (Tiny Shakespeare's
   paragraphs, reshuffled with a seed for every copy, each copy headed "[part N]").
2. Opens it (`load_corpus`: checked and fingerprinted) and tokenizes it into the token cache
   with GPT-2's encoding (`../shared/data/gpt2.tiktoken`), in a fresh child process: MB/s of each
   pass, the time to the first progress event, the child's peak resident memory
   (`ru_maxrss`), and how much more than before the work it held at most (sampled every 10 ms
   by a thread). Target: peak under 1 GB whatever the size.
3. Side by side, on the first `--ref-mb` MB of the same corpus, each in its own child process,
   run in turn (`--repeats` times, best kept, so a busy machine slows both alike): ours (open +
   tokenize into the cache) vs the plain reference — read the whole slice, then tiktoken's
   `encode_ordinary` on the same ranks, ids kept as a list. Prints the ratio of MB/s and of peak
   memory.
4. BPE training (word counts, then the merges) on the first `--bpe-mb` MB, in turn, in child
   processes: streamed (`train_bpe_chunks`), in memory (`BPETokenizer.train` on the whole text,
   which counts it in 1 MB slices) and unsliced (the same with one slice: the trainer as it was
   before the slices, a list of every word of the text at once): seconds and memory; the merges
   are compared for equality.

Peak memory is measured in children so that the parent's baseline (and its generated-text
buffers) do not count. This is not a test: it prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"
MB = 1 << 20


# -- the corpus ----------------------------------------------------------------------------------
def generate_corpus(path: Path, size_mb: int, seed: int = 0) -> int:
    """Write about `size_mb` MB of reshuffled Shakespeare to `path`, a copy at a time."""
    paragraphs = (SHARED / "tinyshakespeare.txt").read_text(encoding="utf-8").split("\n\n")
    rng = random.Random(seed)
    target, written, part = size_mb * MB, 0, 0
    with path.open("w", encoding="utf-8") as out:
        while written < target:
            rng.shuffle(paragraphs)
            block = f"[part {part}]\n" + "\n\n".join(paragraphs) + "\n\n"
            data = block.encode("utf-8")[: target - written]
            out.write(data.decode("utf-8", errors="ignore"))
            written += len(data)
            part += 1
    return path.stat().st_size


def slice_file(source: Path, dest: Path, size_mb: int) -> Path:
    """The first `size_mb` MB of `source`, cut at a line end."""
    with source.open("rb") as f:
        data = f.read(size_mb * MB)
    dest.write_bytes(data[: data.rfind(b"\n") + 1])
    return dest


# -- the children --------------------------------------------------------------------------------
def rss_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports KB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / MB if sys.platform == "darwin" else peak / 1024


class WorkPeak:
    """The highest resident memory while the work runs, sampled every 10 ms by a thread
    (`ru_maxrss` alone would also count a peak reached while the libraries were imported)."""

    def __init__(self) -> None:
        import psutil

        self.process = psutil.Process()
        self.start_mb = self.peak_mb = self.now_mb()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def now_mb(self) -> float:
        return self.process.memory_info().rss / MB

    def _sample(self) -> None:
        while not self.done.wait(0.01):
            self.peak_mb = max(self.peak_mb, self.now_mb())

    def stop(self) -> dict:
        self.done.set()
        self.thread.join()
        self.peak_mb = max(self.peak_mb, self.now_mb())
        return {"baseline_mb": self.start_mb, "work_peak_mb": self.peak_mb, "peak_mb": rss_mb()}


def child_ours(path: str, cache: str) -> dict:
    """Open + tokenize into the cache with GPT-2's ranks; times, first progress, peak memory."""
    from gptstudio.core.corpora import load_corpus
    from gptstudio.core.data import tokenize_corpus
    from gptstudio.core.tokenizers import TiktokenTokenizer

    tok = TiktokenTokenizer.from_file(SHARED / "gpt2.tiktoken")
    tok.encoding  # built now: its cost is not the corpus's
    memory = WorkPeak()
    first: dict[str, float] = {}

    def mark(stage: str):
        def progress(event) -> None:
            done = getattr(event, "done_bytes", 0)
            if done and stage not in first:
                first[stage] = time.perf_counter() - started[stage]
        return progress

    started = {"open": time.perf_counter()}
    corpus = load_corpus(path, progress=mark("open"))
    open_s = time.perf_counter() - started["open"]
    started["tokenize"] = time.perf_counter()
    ids = tokenize_corpus(corpus, tok, cache_dir=cache, progress=mark("tokenize"))
    tokenize_s = time.perf_counter() - started["tokenize"]
    return {"n_bytes": corpus.n_bytes, "n_tokens": int(len(ids)), "open_s": open_s,
            "tokenize_s": tokenize_s, "first_open_s": first.get("open", float("nan")),
            "first_tokenize_s": first.get("tokenize", float("nan")), **memory.stop()}


def child_reference(path: str) -> dict:
    """Read the whole file, then tiktoken's encode_ordinary on GPT-2's ranks (a list of ids)."""
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    from gptstudio.core.tokenizers.patterns import GPT2_PATTERN

    enc = tiktoken.Encoding(name="gpt2-ref", pat_str=GPT2_PATTERN,
                            mergeable_ranks=load_tiktoken_bpe(str(SHARED / "gpt2.tiktoken")),
                            special_tokens={"<|endoftext|>": 50256})
    memory = WorkPeak()
    start = time.perf_counter()
    text = Path(path).read_text(encoding="utf-8")
    ids = enc.encode_ordinary(text)
    seconds = time.perf_counter() - start
    return {"n_bytes": len(text.encode("utf-8")), "n_tokens": len(ids), "seconds": seconds,
            **memory.stop()}


def child_bpe(path: str, mode: str, vocab_size: int) -> dict:
    """BPE training on the file: streamed word counts, or the whole text in memory."""
    from gptstudio.core.corpora import load_corpus
    from gptstudio.core.tokenizers import BPETokenizer, train_bpe_chunks

    if mode == "unsliced":  # the trainer before this change: one list of all the text's words
        from gptstudio.core.tokenizers import bpe_train

        bpe_train.COUNT_SLICE_CHARS = 1 << 62
    memory = WorkPeak()
    start = time.perf_counter()
    corpus = load_corpus(path)
    if mode == "streamed":
        tok = train_bpe_chunks(corpus.iter_chunks(), vocab_size, total_chars=corpus.n_chars)
    else:
        tok = BPETokenizer.train(corpus.text, vocab_size)
    return {"seconds": time.perf_counter() - start, "merges": tok.merges,
            "n_bytes": corpus.n_bytes, **memory.stop()}


def in_child(*args: str) -> dict:
    """Run this file as `--child ARGS` in a fresh interpreter and read its JSON line."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                          text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {args} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the report ----------------------------------------------------------------------------------
def mb_per_s(n_bytes: float, seconds: float) -> float:
    return n_bytes / MB / seconds


def growth(run: dict) -> float:
    """Peak resident memory during the work beyond what the child held before it began."""
    return run["work_peak_mb"] - run["baseline_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--ref-mb", type=int, default=32)
    parser.add_argument("--bpe-mb", type=int, default=32)
    parser.add_argument("--vocab-size", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "ours":
            result = child_ours(*rest)
        elif kind == "reference":
            result = child_reference(*rest)
        else:
            result = child_bpe(rest[0], rest[1], int(rest[2]))
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="bench-corpus-") as tmp:
        folder = Path(tmp)
        big = folder / "corpus.txt"
        start = time.perf_counter()
        size = generate_corpus(big, args.size_mb)
        print(f"generated {size / MB:,.0f} MB of reshuffled Tiny Shakespeare in "
              f"{time.perf_counter() - start:.1f} s")

        print(f"\n1. the whole corpus ({size / MB:,.0f} MB), GPT-2's encoding, a fresh process")
        full = in_child("ours", str(big), str(folder / "cache-full"))
        print(f"   open (check + fingerprint): {full['open_s']:.1f} s = "
              f"{mb_per_s(full['n_bytes'], full['open_s']):.1f} MB/s; first progress after "
              f"{full['first_open_s']:.3f} s")
        print(f"   tokenize into the cache:    {full['tokenize_s']:.1f} s = "
              f"{mb_per_s(full['n_bytes'], full['tokenize_s']):.1f} MB/s; first progress "
              f"after {full['first_tokenize_s']:.3f} s; {full['n_tokens']:,} tokens")
        print(f"   peak memory of the process {full['peak_mb']:,.0f} MB (target under 1,024 "
              f"MB); {full['baseline_mb']:,.0f} MB before the work began (libraries), "
              f"{growth(full):,.0f} MB more at most during it")

        ref_mb = min(args.ref_mb, args.size_mb)
        piece = slice_file(big, folder / "slice.txt", ref_mb)
        print(f"\n2. the first {ref_mb} MB, ours vs read-all + tiktoken encode_ordinary, "
              f"interleaved, best of {args.repeats}")
        ours_best, ref_best = None, None
        for attempt in range(args.repeats):
            ours = in_child("ours", str(piece), str(folder / f"cache-slice{attempt}"))
            ref = in_child("reference", str(piece))
            ours["seconds"] = ours["open_s"] + ours["tokenize_s"]
            if ours_best is None or ours["seconds"] < ours_best["seconds"]:
                ours_best = ours
            if ref_best is None or ref["seconds"] < ref_best["seconds"]:
                ref_best = ref
        assert ours_best is not None and ref_best is not None
        ours_rate = mb_per_s(ours_best["n_bytes"], ours_best["seconds"])
        ref_rate = mb_per_s(ref_best["n_bytes"], ref_best["seconds"])
        for name, run, rate in (("ours (open + tokenize)", ours_best, ours_rate),
                                ("reference", ref_best, ref_rate)):
            print(f"   {name:<23} {rate:.1f} MB/s, peak {run['peak_mb']:,.0f} MB, "
                  f"{growth(run):,.0f} MB more than before the work; {run['n_tokens']:,} tokens")
        print(f"   ratio ours/reference: speed {ours_rate / ref_rate:.2f}x, memory the work "
              f"takes {growth(ours_best) / max(growth(ref_best), 1):.2f}x")

        if args.bpe_mb > 0:
            bpe_mb = min(args.bpe_mb, args.size_mb)
            piece = slice_file(big, folder / "bpe.txt", bpe_mb)
            print(f"\n3. BPE training (vocab {args.vocab_size}) on the first {bpe_mb} MB: "
                  f"streamed word counts vs the whole text in memory, in turn, best of "
                  f"{args.repeats}")
            runs: dict[str, dict] = {}
            for _ in range(args.repeats):
                for name, mode in (("streamed", "streamed"), ("in memory", "memory"),
                                   ("unsliced", "unsliced")):
                    run = in_child("bpe", str(piece), mode, str(args.vocab_size))
                    if name not in runs or run["seconds"] < runs[name]["seconds"]:
                        runs[name] = run
            for name, run in runs.items():
                print(f"   {name:<10}: {run['seconds']:.1f} s, peak {run['peak_mb']:,.0f} MB, "
                      f"{growth(run):,.0f} MB more than before the work")
            same = runs["streamed"]["merges"] == runs["in memory"]["merges"] == \
                runs["unsliced"]["merges"]
            print(f"   same merges: {same}; memory the work takes, streamed/in memory "
                  f"{growth(runs['streamed']) / max(growth(runs['in memory']), 1):.2f}x")


if __name__ == "__main__":
    main()
