#!/usr/bin/env bash
# GPU checks of issue 13, at most ~10 minutes on one GPU; writes benchmarks/results/gpu.json.
#
#   bash benchmarks/gpu.sh                 # PYTHON=... to pick the interpreter (default: python)
#
# Parts (each under its own timeout, so one that hangs cannot eat the others' time; the sum of the
# timeouts is 9 minutes, plus the merge):
#   1. losses  (300 s): generalized_jsd forward + backward on 4 × 512 × 49,152 logits, fp32 and bf16:
#                       distill's default call (chunk_size="auto") and one pass, TRL's loss (or its
#                       formula written out when trl is missing), Liger's Triton LigerJSD if importable;
#                       CUDA-synchronized times, peak memory, agreement with the TRL-style reference.
#   2. train   (120 s): one `distill lm train` step with --mixed-precision bf16 on a tiny Llama made on
#                       the spot (no downloads), its loss and divergence finite.
#   3. eval    (120 s): `distill lm eval` on CUDA, forward and generation timing synchronized.
# Nothing is installed; missing optional packages (trl, liger-kernel) are recorded in the JSON.
set -u
cd "$(dirname "$0")/.."
PY="${PYTHON:-python}"
WORK="$(mktemp -d -t distill-gpu-XXXXXX)"
OUT="benchmarks/results/gpu.json"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
export TOKENIZERS_PARALLELISM=false

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$WORK/nvidia-smi.txt" 2>&1 || true
"$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device visible to torch'" || {
  echo "gpu.sh: torch sees no CUDA device; nothing to measure" >&2
}

run_part() {  # name, seconds
  echo "[gpu.sh] $1 (timeout $2 s) ..."
  timeout --signal=TERM --kill-after=10 "$2" "$PY" benchmarks/gpu.py "$1" "$WORK" > "$WORK/$1.log" 2>&1
  echo "[gpu.sh] $1: exit $?"
}

run_part losses 300
run_part train 120
run_part eval 120
"$PY" benchmarks/gpu.py merge "$WORK" "$OUT"
echo "[gpu.sh] work folder (logs): $WORK"
