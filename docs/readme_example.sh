#!/usr/bin/env bash
# Regenerates the README's "What the report looks like": a smoke budget sweep (the embedded synthetic
# set, CPU, two seeds so that intervals exist), its report, the cross-budget figure copied to
# docs/report-sweep.png and the report's "What to train" section pasted between the README's
# what-to-train markers. About 9 minutes on 2 CPU cores. Usage: docs/readme_example.sh [work folder]
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-/tmp/archbench-readme}"

python -m benchmarks run --all --preset smoke --budget 10s,30s --seeds 2 --results-dir "$work/results" --quiet
python -m benchmarks report --results-dir "$work/results" --out "$work/report"
cp "$work/report/sweep-00.png" docs/report-sweep.png

python scripts/paste_answer.py "$work/results" what-to-train
echo "updated docs/report-sweep.png ($(stat -c %s docs/report-sweep.png) bytes) and README.md"
