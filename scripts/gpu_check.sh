#!/usr/bin/env bash
# GPU check: does GPT Studio really train on this machine's NVIDIA GPU(s)?
#
#   scripts/gpu_check.sh [DATA_DIR]          # DATA_DIR: gpt2.tiktoken + tinyshakespeare.txt
#   scripts/gpu_check.sh --dry [DATA_DIR]    # the same pipeline on the CPU, tiny (no GPU needed)
#
# No network and no installs: it runs this repository from its folder (PYTHONPATH) on the
# machine's own python3 ($PYTHON to choose another), which needs PyTorch >= 2.10, safetensors,
# tiktoken and pytest (no PySide6: core and the CLI never import Qt; psutil and platformdirs are
# used when present, gptstudio/core/system.py stands in without them). DATA_DIR defaults to
# ../shared/data beside the repository. The checks, one summary line each (PASS/FAIL/SKIP):
#   1. cuda-tests  the tests marked `cuda` (tests/test_device_cuda.py), without pytest-qt
#   2. train-gpt2  gpt2 (124M) on Tiny Shakespeare with the GPT-2 rank file, a few hundred steps
#                  on cuda: tokens/s and MFU against the GPU's dense bf16 peak
#   3. resume-cpu  that run resumed on the CPU for one step
#   4. sample-cpu  a sample from it on the CPU
#   5. ddp         with two or more GPUs: a short torchrun DDP run over all of them (nccl)
# Exit code: 0 if no check failed. Logs of each check: $GPU_CHECK_DIR (default a temp folder).
# Budget: under 8 minutes on one H100-class GPU (most of it compiling and the CPU resume).
set -u -o pipefail

DRY=0
if [[ "${1:-}" == "--dry" ]]; then DRY=1; shift; fi
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DATA_DIR="$(cd "${1:-$REPO/../shared/data}" 2>/dev/null && pwd || echo "${1:-$REPO/../shared/data}")"
PYTHON="${PYTHON:-python3}"
WORK="${GPU_CHECK_DIR:-$(mktemp -d -t gpu_check.XXXXXX)}"
mkdir -p "$WORK"

export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export GPTSTUDIO_OFFLINE=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
export GPTSTUDIO_CACHE_DIR="$WORK/cache"
export PYTHONUNBUFFERED=1

if [[ $DRY == 1 ]]; then  # the CPU stands in for the GPU; a tiny model, a few steps
    DEVICE=cpu; STEPS=30; RESUME_STEPS=31; DDP_STEPS=10; NGPU=2
    MODEL=(--preset nano --set n_layer=2 --set n_head=2 --set n_embd=64 --set block_size=64)
    BATCH=(--set batch_size=4)
    LAUNCH_ENV=(OMP_NUM_THREADS=1)
else
    DEVICE=cuda; STEPS=${GPU_CHECK_STEPS:-300}; RESUME_STEPS=$((STEPS + 1)); DDP_STEPS=50
    MODEL=(--preset gpt2)
    BATCH=(--set "batch_size=${GPU_CHECK_BATCH:-16}")
    LAUNCH_ENV=()
    NGPU=$("$PYTHON" -c "import torch; print(torch.cuda.device_count())" 2>/dev/null || echo 0)
fi
CORPUS="$DATA_DIR/tinyshakespeare.txt"
RANKS="$DATA_DIR/gpt2.tiktoken"
COMMON=(--corpus "$CORPUS" --tokenizer "$RANKS" "${MODEL[@]}" "${BATCH[@]}"
        --set eval_interval=100 --set eval_iters=10 --set sample_interval=0
        --set checkpoint_interval=0 --set warmup_steps=50 --set learning_rate=6e-4
        --set min_lr=6e-5 --quiet)

FAILED=0
declare -a SUMMARY=()
report() {  # report STATUS NAME DETAIL
    SUMMARY+=("$(printf '%-4s %-11s %s' "$1" "$2" "$3")")
    echo "$(printf '%-4s %-11s %s' "$1" "$2" "$3")"
    [[ "$1" == FAIL ]] && FAILED=1
    return 0
}
run_logged() {  # run_logged NAME COMMAND... : output to $WORK/NAME.log; returns its status
    local name=$1; shift
    local started=$SECONDS
    "$@" >"$WORK/$name.log" 2>&1
    local rc=$?
    ELAPSED=$((SECONDS - started))
    return $rc
}
last_lines() { tail -n 5 "$WORK/$1.log" | tr '\n' ' ' | cut -c1-400; }

echo "GPU check: repo $REPO, data $DATA_DIR, python $("$PYTHON" -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__)' 2>&1), logs $WORK"

# 0. what is there
for f in "$CORPUS" "$RANKS"; do
    if [[ ! -f "$f" ]]; then
        report FAIL data "missing $f (pass DATA_DIR holding gpt2.tiktoken and tinyshakespeare.txt)"
        printf '%s\n' "--- summary" "${SUMMARY[@]}"; exit 1
    fi
done
if [[ $DRY == 0 && "$NGPU" -lt 1 ]]; then
    report FAIL cuda "PyTorch sees no CUDA GPU ($("$PYTHON" -c 'import torch; print("torch.version.cuda =", torch.version.cuda)' 2>&1))"
    printf '%s\n' "--- summary" "${SUMMARY[@]}"; exit 1
fi

# 1. the CUDA-marked tests (they skip without a GPU, so --dry shows them as skipped)
if run_logged cuda-tests "$PYTHON" -m pytest -q -p no:cacheprovider -p no:pytest-qt -m cuda \
        -rs "$REPO/tests/test_device_cuda.py" \
        && { [[ $DRY == 1 ]] || ! grep -q skipped "$WORK/cuda-tests.log"; }; then
    report PASS cuda-tests "$(tail -n 1 "$WORK/cuda-tests.log") (${ELAPSED}s)"
else
    report FAIL cuda-tests "$(last_lines cuda-tests)"
fi

# 2. gpt2 on Tiny Shakespeare, on the GPU
RUN="$WORK/gpt2-run"
if run_logged train-gpt2 "$PYTHON" -m gptstudio train --run-dir "$RUN" --restart \
        --device "$DEVICE" --max-steps "$STEPS" "${COMMON[@]}"; then
    speed=$("$PYTHON" "$REPO/scripts/gpu_speed.py" "$RUN" \
            $( [[ $DRY == 1 ]] && echo --gpu-name CPU) 2>&1)
    started=$(grep -m1 -o 'Starting training[^"]*' "$RUN/metrics.jsonl")
    final=$("$PYTHON" - "$RUN" <<'EOF'
import json, sys
evals = [d for d in map(json.loads, open(sys.argv[1] + "/metrics.jsonl")) if d["event"] == "eval"]
print(f"val loss {evals[-1]['val_loss']:.3f}" if evals else "no evaluation")
EOF
)
    if grep -q "torch.compile failed" "$RUN/metrics.jsonl"; then
        started="$started torch.compile FAILED, eager mode (see $RUN/metrics.jsonl)"
    fi
    report PASS train-gpt2 "$STEPS steps in ${ELAPSED}s, $final; $speed; $started"
else
    report FAIL train-gpt2 "$(last_lines train-gpt2)"
fi

# 3. the GPU run resumed on the CPU (one step, one evaluation batch)
if [[ -d "$RUN/checkpoints" ]] && run_logged resume-cpu "$PYTHON" -m gptstudio train --resume \
        --run-dir "$RUN" --device cpu --max-steps "$RESUME_STEPS" --set eval_iters=1 --quiet; then
    if grep -q "Resuming training at step $STEPS of $RESUME_STEPS .* on CPU" "$RUN/metrics.jsonl" \
            && tail -n 1 "$RUN/metrics.jsonl" | grep -q '"finished"'; then
        report PASS resume-cpu "step $STEPS -> $RESUME_STEPS on the CPU (${ELAPSED}s)"
    else
        report FAIL resume-cpu "the run did not resume on the CPU: $(tail -n 2 "$RUN/metrics.jsonl")"
    fi
else
    report FAIL resume-cpu "$( [[ -f "$WORK/resume-cpu.log" ]] && last_lines resume-cpu || echo 'no run to resume')"
fi

# 4. a sample from it on the CPU
if [[ -d "$RUN/checkpoints" ]] && run_logged sample-cpu "$PYTHON" -m gptstudio sample --run "$RUN" \
        --device cpu --prompt "ROMEO:" --max-new-tokens 40 --seed 0; then
    text=$(tr '\n' ' ' < "$WORK/sample-cpu.log" | cut -c1-120)
    if [[ -n "${text// /}" ]]; then
        report PASS sample-cpu "\"$text\" (${ELAPSED}s)"
    else
        report FAIL sample-cpu "empty sample"
    fi
else
    report FAIL sample-cpu "$( [[ -f "$WORK/sample-cpu.log" ]] && last_lines sample-cpu || echo 'no run to sample')"
fi

# 5. DDP over every GPU (the CPU's gloo with --dry)
if [[ "$NGPU" -ge 2 ]]; then
    DDP_RUN="$WORK/ddp-run"
    if run_logged ddp env "${LAUNCH_ENV[@]}" "$PYTHON" -m torch.distributed.run --standalone \
            --nproc_per_node="$NGPU" -m gptstudio train --run-dir "$DDP_RUN" --restart \
            --device "$DEVICE" --max-steps "$DDP_STEPS" "${COMMON[@]}" \
            && tail -n 1 "$DDP_RUN/metrics.jsonl" | grep -q '"finished"'; then
        speed=$("$PYTHON" "$REPO/scripts/gpu_speed.py" "$DDP_RUN" \
                $( [[ $DRY == 1 ]] && echo --gpu-name CPU) 2>&1)
        report PASS ddp "$NGPU ranks, $DDP_STEPS steps in ${ELAPSED}s; $speed (all ranks)"
    else
        report FAIL ddp "$(last_lines ddp)"
    fi
else
    report SKIP ddp "one GPU: a torchrun DDP run needs two or more"
fi

echo "--- summary"
printf '%s\n' "${SUMMARY[@]}"
exit $FAILED
