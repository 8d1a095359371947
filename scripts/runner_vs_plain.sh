#!/usr/bin/env bash
# The runner against a plain `fit` (scripts/plain_fit.py): ResNet-20 on the same CIFAR-100 arrays,
# STEPS steps each, alternately, twice per backend; steady-state training img/s (first step excluded).
#   scripts/runner_vs_plain.sh CIFAR100_DIR [STEPS] [BACKENDS]
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: scripts/runner_vs_plain.sh CIFAR100_DIR [STEPS] [BACKENDS]}
steps=${2:-100}
out=$(mktemp -d)
for backend in ${3:-tensorflow jax}; do
  for round in 1 2; do
    KERAS_BACKEND=$backend python scripts/plain_fit.py "$data" "$steps"
    python -m benchmarks run resnet20 --backend "$backend" --data-dir "$data" --budget "${steps}steps" \
      --results-dir "$out" --restart --quiet > /dev/null
    python - "$out" "$backend" <<'PY'
import json, pathlib, sys
(path,) = [p for p in pathlib.Path(sys.argv[1]).glob("*/*/resnet20/seed-0/summary.json")
           if json.loads(p.read_text())["backend"] == sys.argv[2]]
r = json.loads(path.read_text())
print(f"archbench run ({r['backend']}): {(r['steps'] - 1) * r['batch_size'] / (r['train_seconds'] - r['compile_seconds']):.1f} img/s "
      f"over {r['steps'] - 1} steps; wall {r['wall_seconds']:.0f} s, evaluation {r['eval_seconds']:.0f} s "
      f"({r['eval_seconds'] / r['wall_seconds']:.0%} of it)")
PY
  done
done
