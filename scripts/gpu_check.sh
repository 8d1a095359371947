#!/usr/bin/env bash
# The GPU check: one script, one output folder, under 8 minutes on one H200-class GPU.
#
#   bash scripts/gpu_check.sh [OUT_DIR]          # default: $OUT (the device tool's folder) or ./gpu-check
#   DATA_DIR=~/cifar100 bash scripts/gpu_check.sh # the real CIFAR-100 (archives or image folders)
#
# Needs JAX (no TensorFlow), numpy, pandas, seaborn; Keras, namex, optree and tabulate may travel
# as wheels in .whl/ (installed into /tmp/site when present). Steps:
#   1. `speed --all` at auto precision (mixed bf16 + XLA on a bf16 GPU): img/s, share of peak, input-bound?
#   2. `run resnet20 wrn-16-4 original` on JAX with a $BUDGET time budget each, on the real CIFAR-100
#      when DATA_DIR is set, else on synthetic data at CIFAR's size (50,000 training images, 100 classes);
#   3. the first run is killed once (SIGKILL) after its first checkpoint and resumed by the same command;
#   4. `report`, and gpu_check.json with the figures (scripts/gpu_figures.py).
# The same script runs on the CPU with a tiny budget (tests/test_backends.py does):
#   BUDGET=12steps PRESET=smoke SPEED="resnet20 --steps 2 --warmup 1 --repeats 1" ARCHS="resnet20" \
#   CHECKPOINT_EVERY=0.002 bash scripts/gpu_check.sh OUT
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${1:-${OUT:-gpu-check}}"
BUDGET="${BUDGET:-60s}"
DATA_DIR="${DATA_DIR:-}"
if [ -n "$DATA_DIR" ]; then PRESET="${PRESET:-quick}"; DATA=(--dataset cifar100 --data-dir "$DATA_DIR"); else
  PRESET="${PRESET:-synthetic-cifar}"; DATA=(); fi
SPEED="${SPEED:---all}"
ARCHS="${ARCHS:-resnet20 wrn-16-4 original}"
CHECKPOINT_EVERY="${CHECKPOINT_EVERY:-0.1}"  # minutes: the first run is killed after its first checkpoint
export KERAS_BACKEND=jax PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=2
if compgen -G ".whl/*.whl" > /dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
mkdir -p "$OUT_DIR"
LOG="$OUT_DIR/gpu_check.log"
say() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$LOG"; }
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "no nvidia-smi") | tee -a "$LOG"

say "1/4 speed $SPEED (auto precision and XLA)"
# shellcheck disable=SC2086
python3 -m benchmarks speed $SPEED "${DATA[@]}" --backend jax --precision auto --json "$OUT_DIR/speed.json" 2>&1 | tee -a "$LOG"

say "2/4 run $ARCHS, $BUDGET each ($PRESET data); the first is killed once and resumed"
RESULTS="$OUT_DIR/results"
# shellcheck disable=SC2206
RUN=(python3 -m benchmarks run $ARCHS --preset "$PRESET" "${DATA[@]}" --budget "$BUDGET" --backend jax
     --results-dir "$RESULTS" --checkpoint-every "$CHECKPOINT_EVERY")
"${RUN[@]}" >> "$LOG" 2>&1 &  # not through a function: $! must be Python's pid, not a subshell's
pid=$!
for _ in $(seq 1 1200); do  # wait for the first checkpoint, then kill -9
  if compgen -G "$RESULTS/*/*/*/seed-0/checkpoints/ckpt-*.npz" > /dev/null || ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.5
done
if kill -9 "$pid" 2>/dev/null; then say "killed the run (SIGKILL) after its first checkpoint"; fi
wait "$pid" || true
say "3/4 resume: the same command"
"${RUN[@]}" 2>&1 | tee -a "$LOG"

say "4/4 report and figures"
python3 -m benchmarks report --results-dir "$RESULTS" --out "$OUT_DIR" 2>&1 | tee -a "$LOG"
python3 scripts/gpu_figures.py "$OUT_DIR" | tee -a "$LOG"
say "done: $OUT_DIR/report.md and $OUT_DIR/gpu_check.json"
