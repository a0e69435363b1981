"""Benchmark: decoding speed of our GPT (KV cache, no cache, bf16) vs `transformers.generate`,
the weights' read-bandwidth ceiling, first-token latency, and generation inside the app.

1. fp32: the `gpt2` preset (124M parameters, random weights), batch 1, a 16-token prompt, 128 new
   tokens, greedy, ids only on both sides (ours as `gptstudio sample`: no alternatives). Our
   model is exported to Hugging Face's layout in a temporary folder and loaded into
   `GPT2LMHeadModel`, so both sides run the very same weights; the script checks that both
   produce the same tokens (the oracle). Target: >= 1.2x transformers' tokens/s.
2. bf16: our bf16 inference copy (`core.inference_precision`) vs transformers with the same
   model cast to bf16 (`--bf16-new-tokens`, fewer: transformers' bf16 path is very slow on a
   CPU without native bf16); how many greedy tokens agree with fp32. Target: >= 1.2x.
3. Ceiling: one vector-times-matrix product (GEMV) over every linear weight of each model, in the
   layout and dtype decoding reads them (fp32, bf16), best of several passes, measured between
   the decoding runs of the fast/plain rounds below: the bandwidth and
   the tokens/s a decoder reading each weight once per token cannot beat, against the decoding
   rate after the first token (the prompt read apart). Target: bf16 decoding >= 80% of it.
   The decode fast path (`core/model/decode.py`) against the plain path (`GPT.fast_decode =
   False`), interleaved, fp32 and bf16: the speed-up, and each path's share of the ceiling.
4. First token for `tiny` (char tokenizer on the fables): from the call to the first token, a
   32-character prompt, median of 20. Target <= 100 ms.
5. `--app` (default on): the real window, offscreen, generating with the Generate tab on a `tiny`
   run vs the engine headless (`generate_app.py`). Targets: >= 0.9x headless tokens/s, GUI lag
   p99 <= 30 ms.

Runs alternate between the contenders (this machine is shared and its timings are noisy) and
the best of several rounds is reported, with ratios and medians; the load average is printed at
the start and the end.

Run: .venv/bin/python benchmarks/bench_generate.py [--rounds 3] [--new-tokens 128] [--threads N]
     [--bf16-new-tokens 32] [--no-app] [--app-rounds 4] [--app-tokens 1500]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gptstudio.core.generation import run_generation  # noqa: E402
from gptstudio.core.hf_gpt2 import export_hf_gpt2  # noqa: E402
from gptstudio.core.inference_precision import inference_model  # noqa: E402
from gptstudio.core.model import build_model, from_preset  # noqa: E402
from gptstudio.core.sampling import SamplingConfig  # noqa: E402
from gptstudio.core.tokenizers.tiktoken_named import TiktokenTokenizer  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PROMPT_TOKENS = 16


def make_prompt(tokenizer: TiktokenTokenizer) -> str:
    """The first 16 tokens of "The Verdict", as text that encodes back to exactly 16 tokens."""
    text = (DATA / "the-verdict.txt").read_text(encoding="utf-8")
    prompt = tokenizer.decode(tokenizer.encode_ordinary(text)[:PROMPT_TOKENS])
    assert len(tokenizer.encode(prompt)) == PROMPT_TOKENS
    return prompt


# Per-token decode times (after the first token, i.e. without reading the prompt) of the
# run_ours calls with the KV cache, by (model, fast path on): what the ceiling bounds.
DECODE_S: dict[tuple[int, bool], list[float]] = {}


def run_ours(
    model, tokenizer, prompt: str, new_tokens: int, use_cache: bool, fast: bool = True
) -> tuple[float, list]:
    """Greedy ids only, as `gptstudio sample` without --show-probs (no alternatives);
    `fast` False: the plain path (`GPT.fast_decode`)."""
    cfg = SamplingConfig(max_new_tokens=new_tokens, temperature=0, stop_at_eot=False,
                         use_cache=use_cache, n_alternatives=0)
    model.fast_decode = fast
    start = time.perf_counter()
    result = run_generation(model, tokenizer, prompt, cfg)
    seconds = time.perf_counter() - start
    del model.fast_decode  # back to the class default (on)
    if use_cache and new_tokens >= 16:
        per_token = (result.seconds - result.first_token_s) / (new_tokens - 1)
        DECODE_S.setdefault((id(model), fast), []).append(per_token)
    return seconds, [e.id for e in result.events]


def run_hf(hf_model, input_ids: torch.Tensor, new_tokens: int) -> tuple[float, list]:
    start = time.perf_counter()
    with torch.inference_mode():
        out = hf_model.generate(
            input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=new_tokens,
            min_new_tokens=new_tokens, do_sample=False, use_cache=True, pad_token_id=0,
        )
    return time.perf_counter() - start, out[0, input_ids.shape[1]:].tolist()


def linear_weights(model: nn.Module) -> list[torch.Tensor]:
    """Every matrix a decoding step multiplies a vector by (blocks and LM head), as stored."""
    return [m.weight for m in model.modules() if isinstance(m, nn.Linear)]


def gemv_pass_seconds(weights: list[torch.Tensor], passes: int) -> float:
    """Best time of one pass of x @ W.T over all `weights` (the decode-time kernel)."""
    inputs = {(w.shape[1], w.dtype): torch.randn(1, w.shape[1]).to(w.dtype) for w in weights}
    best = float("inf")
    with torch.inference_mode():
        for _ in range(passes + 1):  # the first pass warms up
            start = time.perf_counter()
            for w in weights:
                F.linear(inputs[(w.shape[1], w.dtype)], w)
            best = min(best, time.perf_counter() - start)
    return best


def duel(name_a: str, a, name_b: str, b, rounds: int, n: int) -> dict[str, float]:
    """Alternate a() and b() (each returns (seconds, ids)); print rounds, return best seconds
    and the median of per-round ratios b/a (how much faster a is)."""
    best = {name_a: float("inf"), name_b: float("inf")}
    ratios, ids = [], {}
    for r in range(rounds):
        t_a, ids[name_a] = a()
        t_b, ids[name_b] = b()
        best[name_a], best[name_b] = min(best[name_a], t_a), min(best[name_b], t_b)
        ratios.append(t_b / t_a)
        print(f"  round {r + 1}: {name_a} {n / t_a:6.1f} tok/s   {name_b} {n / t_b:6.1f} tok/s"
              f"   ratio {t_b / t_a:.2f}x", flush=True)
    return {**best, "median_ratio": statistics.median(ratios), "ids": ids}


def path_rounds(model, run_fast, run_plain, rounds: int, passes: int, n: int) -> dict:
    """Alternate the fast path, the GEMV ceiling and the plain path, so load hits all three
    alike; print rounds; return best seconds, the median ratio plain/fast, the ids and, per
    round, (ceiling seconds, fast and plain seconds a token after the first)."""
    weights = linear_weights(model)
    best = {"fast": float("inf"), "plain": float("inf")}
    ratios, ids, per_round = [], {}, []
    for r in range(rounds):
        t_fast, ids["fast"] = run_fast()
        fast = DECODE_S[(id(model), True)][-1]
        ceiling = gemv_pass_seconds(weights, passes)
        t_plain, ids["plain"] = run_plain()
        plain = DECODE_S[(id(model), False)][-1]
        best["fast"], best["plain"] = min(best["fast"], t_fast), min(best["plain"], t_plain)
        ratios.append(t_plain / t_fast)
        per_round.append((ceiling, fast, plain))
        print(f"  round {r + 1}: fast {n / t_fast:6.1f} tok/s   plain {n / t_plain:6.1f} tok/s"
              f"   ratio {t_plain / t_fast:.2f}x;  ceiling {1 / ceiling:.1f} tok/s: fast "
              f"{100 * ceiling / fast:.0f}%, plain {100 * ceiling / plain:.0f}%", flush=True)
    return {**best, "median_ratio": statistics.median(ratios), "ids": ids, "rounds": per_round}


def first_token_latency(repeats: int) -> list[float]:
    """Seconds to the first token for `tiny` (char tokenizer on the fables, random weights)."""
    from gptstudio.core.corpora import load_builtin
    from gptstudio.core.tokenizers import CharTokenizer

    text = load_builtin("fables").text
    tokenizer = CharTokenizer.from_text(text)
    torch.manual_seed(0)
    model = build_model(from_preset("tiny", vocab_size=tokenizer.vocab_size)).eval()
    prompt = text[:32]
    config = SamplingConfig(max_new_tokens=1, seed=0)
    run_generation(model, tokenizer, prompt, config)  # warm-up
    return [run_generation(model, tokenizer, prompt, config).first_token_s
            for _ in range(repeats)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--bf16-new-tokens", type=int, default=32)
    parser.add_argument("--no-cache-rounds", type=int, default=1,
                        help="rounds for the (slow) no-cache decoding")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice, one per core)")
    parser.add_argument("--gemv-passes", type=int, default=10)
    parser.add_argument("--no-app", action="store_true", help="skip the in-app section")
    parser.add_argument("--app-rounds", type=int, default=4)
    parser.add_argument("--app-tokens", type=int, default=1500)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import transformers  # test/benchmark-only dependency

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    tokenizer = TiktokenTokenizer.from_file(DATA / "gpt2.tiktoken")
    model = build_model(from_preset("gpt2", vocab_size=tokenizer.vocab_size)).eval()
    half = inference_model(model, "bf16")
    prompt = make_prompt(tokenizer)
    input_ids = torch.tensor([tokenizer.encode(prompt)])
    with tempfile.TemporaryDirectory() as tmp:
        export_hf_gpt2(model, tmp)  # no eot: generation always runs the full length
        hf_model = transformers.GPT2LMHeadModel.from_pretrained(tmp).eval()
    hf_half = _hf_copy_in_bf16(hf_model)

    n = args.new_tokens
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{torch.get_num_threads()} threads; gpt2 preset, 124M params (random weights), "
          f"batch 1, {PROMPT_TOKENS}-token prompt, {n} new tokens, greedy; load average "
          f"{os.getloadavg()[0]:.1f}")
    # Warm-up: first calls allocate and pick kernels.
    for m in (model, half):
        run_ours(m, tokenizer, prompt, 8, True)
    for m in (hf_model, hf_half):
        run_hf(m, input_ids, 8)

    print("fp32:")
    fp32 = duel("ours", lambda: run_ours(model, tokenizer, prompt, n, True),
                "transformers", lambda: run_hf(hf_model, input_ids, n), args.rounds, n)
    plain = [run_ours(model, tokenizer, prompt, n, False) for _ in range(args.no_cache_rounds)]
    n16 = args.bf16_new_tokens
    print(f"bf16 ({n16} new tokens):")
    bf16 = duel("ours", lambda: run_ours(half, tokenizer, prompt, n16, True),
                "transformers", lambda: run_hf(hf_half, input_ids, n16), args.rounds, n16)

    paths = {}
    for label, m in (("fp32", model), ("bf16", half)):
        print(f"decode fast path vs plain path (GPT.fast_decode), {label}, {n} new tokens, "
              f"and the GEMV ceiling between them:")
        paths[label] = path_rounds(m, lambda m=m: run_ours(m, tokenizer, prompt, n, True),
                                   lambda m=m: run_ours(m, tokenizer, prompt, n, True, False),
                                   args.rounds, args.gemv_passes, n)

    ours_ids, hf_ids = fp32["ids"]["ours"], fp32["ids"]["transformers"]
    same = sum(a == b for a, b in zip(ours_ids, hf_ids))
    line = f"greedy tokens identical: ours vs transformers {same}/{n}"
    if plain:
        line += f", cache vs no cache {sum(a == b for a, b in zip(ours_ids, plain[0][1]))}/{n}"
    print(line)
    half_ids = bf16["ids"]["ours"]
    first_diff = next((k for k, (a, b) in enumerate(zip(ours_ids, half_ids)) if a != b), n16)
    print(f"bf16 greedy vs fp32 greedy (random weights: many near-ties): {first_diff}/{n16} "
          f"identical before the first difference, "
          f"{sum(a == b for a, b in zip(ours_ids, half_ids))}/{n16} positions equal; ours bf16 "
          f"vs transformers bf16 "
          f"{sum(a == b for a, b in zip(half_ids, bf16['ids']['transformers']))}/{n16}")

    print(f"best of rounds          {'seconds':>9}{'tokens/s':>10}")
    rows = [("fp32 ours (KV cache)", fp32["ours"], n),
            ("fp32 transformers", fp32["transformers"], n),
            ("fp32 ours (no cache)", min((t for t, _ in plain), default=float("inf")), n),
            ("bf16 ours (KV cache)", bf16["ours"], n16),
            ("bf16 transformers", bf16["transformers"], n16)]
    for name, seconds, tokens in rows:
        if seconds < float("inf"):
            print(f"{name:24}{seconds:9.2f}{tokens / seconds:10.1f}")
    for label, duel_result in (("fp32", fp32), ("bf16", bf16)):
        ratio = duel_result["transformers"] / duel_result["ours"]
        print(f"{label} ours / transformers: {ratio:.2f}x best-of-rounds, "
              f"{duel_result['median_ratio']:.2f}x median of per-round ratios "
              f"(target >= 1.2x)")
    if plain:
        print(f"fp32 ours (KV cache) / ours (no cache): "
              f"{min(t for t, _ in plain) / fp32['ours']:.2f}x")
    for label, duel_result in paths.items():
        ids = duel_result["ids"]
        print(f"{label} fast path / plain path: "
              f"{duel_result['plain'] / duel_result['fast']:.2f}x best-of-rounds, "
              f"{duel_result['median_ratio']:.2f}x median; greedy tokens identical "
              f"{sum(a == b for a, b in zip(ids['fast'], ids['plain']))}/{n}")

    print("read-bandwidth ceiling (a GEMV over every linear weight, as decoding reads them, "
          "measured between the decoding runs above):")
    for label, m in (("fp32", model), ("bf16", half)):
        size = sum(w.numel() * w.element_size() for w in linear_weights(m))
        rounds = paths[label]["rounds"]  # (ceiling s, fast s a token, plain s a token)
        seconds = min(c for c, _, _ in rounds)
        fast, slow = min(f for _, f, _ in rounds), min(p for _, _, p in rounds)
        target = "  (target >= 80%)" if label == "bf16" else ""
        print(f"  {label}: {size / 1e6:.0f} MB in {seconds * 1e3:.1f} ms = "
              f"{size / seconds / 1e9:.1f} GB/s, ceiling {1 / seconds:.1f} tokens/s; decoding "
              f"after the first token {1 / fast:.1f} tokens/s = {100 * seconds / fast:.0f}% of "
              f"it (best of each), median of per-round shares "
              f"{statistics.median(100 * c / f for c, f, _ in rounds):.0f}%{target}; plain "
              f"path {100 * seconds / slow:.0f}%, median "
              f"{statistics.median(100 * c / p for c, _, p in rounds):.0f}%")

    latencies = first_token_latency(20)
    print(f"first token, tiny preset (32-char prompt, {torch.get_num_threads()} threads): median "
          f"{1000 * statistics.median(latencies):.1f} ms, max {1000 * max(latencies):.1f} ms "
          f"(target <= 100 ms)")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if not args.no_app:
        from generate_app import bench_app  # benchmarks/generate_app.py

        bench_app(args.app_rounds, args.app_tokens)


def _hf_copy_in_bf16(hf_model):
    """transformers' model with its weights cast to bf16 (the library's own bf16 path)."""
    import copy

    return copy.deepcopy(hf_model).to(torch.bfloat16).eval()


if __name__ == "__main__":
    main()
