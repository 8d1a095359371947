#!/usr/bin/env bash
# The GPU check, ready to run on a machine with a GPU and JAX (no TensorFlow needed; Keras, namex
# and optree must be importable). Installs nothing; writes one JSON to $OUT (or the current folder).
#   bash scripts/gpu_speed.sh            # about 3-5 minutes on one modern GPU
set -euo pipefail
cd "$(dirname "$0")/.."
export KERAS_BACKEND="${KERAS_BACKEND:-jax}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
python scripts/gpu_check.py --out "${OUT:-.}/gpu_check.json" "$@"
