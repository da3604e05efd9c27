#!/usr/bin/env bash
# The CUDA check, as one prepared script (under 8 minutes on one GPU). It prints one table:
# the CUDA-marked tests; a shrink of ResNet50 x2 at 224², batch 64 (time / one baseline training
# iteration, peak GPU memory); the digits demo trained on CUDA; torchrun --nproc_per_node 1 with
# NCCL for the mmpretrain and basicsr entry points; latency fp32 (with the latency-target rows) and
# bf16 (benchmarks/latency.py).
#
#   bash benchmarks/gpu_check.sh             # on a machine without CUDA: a dry run saying what it would do
#   bash benchmarks/gpu_check.sh --dry-run
#
# The device machine has torch, torchvision, timm, scipy, ... but no network: make the other
# wheels here first (`bash benchmarks/gpu_wheels.sh`, into .whl/), carry `.whl`, and this script
# installs them into a scratch dir. Logs go to $OUT (the device tool's folder) or /tmp/gpu_check.
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
LOGS=${OUT:-/tmp/gpu_check}
DRY=0
[ "${1:-}" = "--dry-run" ] && DRY=1
if [ $DRY = 0 ] && ! $PY -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    echo "no CUDA device here: dry run"
    DRY=1
fi

# name | time limit (s) | command
STEPS=(
  "CUDA tests (pytest -m cuda)|85|$PY -m pytest -q -m cuda tests/test_cuda.py -p no:cacheprovider"
  "shrink ResNet50 x2 224² b64|110|$PY benchmarks/shrink_overhead.py --device cuda --cases resnet50-imagenet-b64 --runs 1 --repeats 3 --no-compare"
  "digits demo on CUDA (lwdna-train)|60|$PY -m lwdna_plugin.cli.train configs/lwdna/demo_digits.py --work-dir $LOGS/demo_digits"
  "torchrun 1 GPU NCCL: mmpretrain|55|$PY -m torch.distributed.run --nproc_per_node 1 --master_port 29511 -m lwdna_plugin.cli.train configs/lwdna/demo_digits.py --launcher pytorch --work-dir $LOGS/dist_digits"
  "torchrun 1 GPU NCCL: basicsr|55|$PY -m lwdna_plugin.cli.make_restoration_demo_data && $PY -m torch.distributed.run --nproc_per_node 1 --master_port 29512 -m lwdna_plugin.cli.train_basicsr -opt configs/basicsr/lwdna/demo_edsr_x4.yml --launcher pytorch"
  "latency fp32 + latency target, batch 1 and 32|75|$PY benchmarks/latency.py --device cuda --dtype float32"
  "latency bf16, batch 1 and 32|40|$PY benchmarks/latency.py --device cuda --dtype bfloat16 --no-latency-target"
)

if [ $DRY = 1 ]; then
    echo "would install .whl/*.whl (if present) into /tmp/lwdna_site and put it and $(pwd) on PYTHONPATH, then run:"
    total=0
    for step in "${STEPS[@]}"; do
        IFS='|' read -r name limit cmd <<< "$step"
        printf '  [%4ss] %s\n         %s\n' "$limit" "$name" "$cmd"
        total=$((total + limit))
    done
    echo "time limits add up to ${total}s; logs would go to $LOGS"
    exit 0
fi

mkdir -p "$LOGS"
if ls .whl/*.whl >/dev/null 2>&1; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/lwdna_site .whl/*.whl \
        || { echo "error: installing .whl failed"; exit 1; }
    export PYTHONPATH=/tmp/lwdna_site:$(pwd)
else
    export PYTHONPATH=$(pwd)
fi
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/GPU: /'
$PY -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)'

rows=()
i=0
for step in "${STEPS[@]}"; do
    IFS='|' read -r name limit cmd <<< "$step"
    i=$((i + 1))
    log="$LOGS/step$i.log"
    start=$SECONDS
    timeout "$limit" bash -c "$cmd" > "$log" 2>&1
    rc=$?
    seconds=$((SECONDS - start))
    case $rc in 0) status=ok ;; 124) status="timeout (${limit}s)" ;; *) status="failed ($rc)" ;; esac
    # the figure a step prints last: a table row, a pytest summary or the last log line
    figure=$(grep -E '^\| [a-z]|passed|failed|error' "$log" | tail -n 4 | tr '\n' ' ' | cut -c1-400)
    [ -z "$figure" ] && figure=$(tail -n 1 "$log" | cut -c1-200)
    rows+=("| $i | $name | $status | $seconds | ${figure//|/\\|} |")
    echo "step $i ($name): $status in ${seconds}s" >&2
done

echo
echo "| step | check | status | seconds | figures (full logs: $LOGS/stepN.log) |"
echo "|---:|---|---|---:|---|"
printf '%s\n' "${rows[@]}"
for i in $(seq 1 ${#STEPS[@]}); do
    echo; echo "== step $i =="; grep -E '^\|' "$LOGS/step$i.log" | head -n 20
done
