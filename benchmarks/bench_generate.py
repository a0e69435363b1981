"""Benchmark: greedy decoding speed of our GPT (KV cache, no cache) vs `transformers.generate`.

The `gpt2` preset (124M parameters, random weights), batch 1, a 16-token prompt, 128 new tokens,
greedy. Our model is exported to Hugging Face's layout in a temporary folder and loaded into
`GPT2LMHeadModel`, so both sides run the very same weights; the script also checks that both
produce the same tokens. Runs alternate between the contenders (this machine is shared and its
timings are noisy) and the best of several rounds is reported, with ratios.

Run: .venv/bin/python benchmarks/bench_generate.py [--rounds 5] [--new-tokens 128] [--threads N]
Target: our KV-cache decoding >= 1.2x transformers' tokens/s.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from gptstudio.core.hf_gpt2 import export_hf_gpt2
from gptstudio.core.model import build_model, from_preset
from gptstudio.core.sampling import SamplingConfig, stream_tokens
from gptstudio.core.tokenizers.tiktoken_named import TiktokenTokenizer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PROMPT_TOKENS = 16


def make_prompt(tokenizer: TiktokenTokenizer) -> str:
    """The first 16 tokens of "The Verdict", as text that encodes back to exactly 16 tokens."""
    text = (DATA / "the-verdict.txt").read_text(encoding="utf-8")
    prompt = tokenizer.decode(tokenizer.encode_ordinary(text)[:PROMPT_TOKENS])
    assert len(tokenizer.encode(prompt)) == PROMPT_TOKENS
    return prompt


def run_ours(
    model, tokenizer, prompt: str, new_tokens: int, use_cache: bool
) -> tuple[float, list]:
    cfg = SamplingConfig(max_new_tokens=new_tokens, temperature=0, stop_at_eot=False,
                         use_cache=use_cache)
    start = time.perf_counter()
    ids = [event.id for event in stream_tokens(model, tokenizer, prompt, cfg)]
    return time.perf_counter() - start, ids


def run_hf(hf_model, input_ids: torch.Tensor, new_tokens: int) -> tuple[float, list]:
    start = time.perf_counter()
    with torch.inference_mode():
        out = hf_model.generate(
            input_ids, attention_mask=torch.ones_like(input_ids), max_new_tokens=new_tokens,
            min_new_tokens=new_tokens, do_sample=False, use_cache=True, pad_token_id=0,
        )
    return time.perf_counter() - start, out[0, input_ids.shape[1]:].tolist()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--no-cache-rounds", type=int, default=1,
                        help="rounds for the (slow) no-cache decoding")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice, one per core)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import transformers  # test/benchmark-only dependency

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    tokenizer = TiktokenTokenizer.from_file(DATA / "gpt2.tiktoken")
    model = build_model(from_preset("gpt2", vocab_size=tokenizer.vocab_size)).eval()
    prompt = make_prompt(tokenizer)
    input_ids = torch.tensor([tokenizer.encode(prompt)])
    with tempfile.TemporaryDirectory() as tmp:
        export_hf_gpt2(model, tmp)  # no eot: generation always runs the full length
        hf_model = transformers.GPT2LMHeadModel.from_pretrained(tmp).eval()

    n = args.new_tokens
    print(f"torch {torch.__version__}, transformers {transformers.__version__}, "
          f"{torch.get_num_threads()} threads; gpt2 preset, 124M params (random weights), "
          f"batch 1, {PROMPT_TOKENS}-token prompt, {n} new tokens, greedy")
    # Warm-up: first calls allocate and pick kernels.
    run_ours(model, tokenizer, prompt, 8, True)
    run_hf(hf_model, input_ids, 8)

    best = {"ours (KV cache)": float("inf"), "transformers": float("inf"),
            "ours (no cache)": float("inf")}
    ratios = []
    for r in range(args.rounds):
        t_ours, ours_ids = run_ours(model, tokenizer, prompt, n, True)
        t_hf, hf_ids = run_hf(hf_model, input_ids, n)
        best["ours (KV cache)"] = min(best["ours (KV cache)"], t_ours)
        best["transformers"] = min(best["transformers"], t_hf)
        ratios.append(t_hf / t_ours)
        print(f"round {r + 1}: ours {n / t_ours:6.1f} tok/s   transformers {n / t_hf:6.1f} tok/s"
              f"   ratio {t_hf / t_ours:.2f}x", flush=True)
    for _ in range(args.no_cache_rounds):
        t_plain, plain_ids = run_ours(model, tokenizer, prompt, n, False)
        best["ours (no cache)"] = min(best["ours (no cache)"], t_plain)

    same = sum(a == b for a, b in zip(ours_ids, hf_ids))
    print(f"greedy tokens identical: ours vs transformers {same}/{n}", end="")
    if args.no_cache_rounds:
        same_plain = sum(a == b for a, b in zip(ours_ids, plain_ids))
        print(f", cache vs no cache {same_plain}/{n}", end="")
    print()
    print(f"best of rounds    {'seconds':>9}{'tokens/s':>10}")
    for name, seconds in best.items():
        if seconds < float("inf"):
            print(f"{name:18}{seconds:9.2f}{n / seconds:10.1f}")
    ratio = best["transformers"] / best["ours (KV cache)"]
    print(f"ours (KV cache) / transformers: {ratio:.2f}x best-of-rounds, "
          f"{statistics.median(ratios):.2f}x median of per-round ratios  (target >= 1.2x)")
    if args.no_cache_rounds:
        print(f"ours (KV cache) / ours (no cache): "
              f"{best['ours (no cache)'] / best['ours (KV cache)']:.2f}x")


if __name__ == "__main__":
    main()
