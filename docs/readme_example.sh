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

python - "$work/report/report.md" <<'PY'
import re
import sys
from pathlib import Path

report = Path(sys.argv[1]).read_text()
answer = report[report.index("## What to train\n"):]
answer = answer[len("## What to train\n"):answer.index("\n## ")].strip()
answer = re.sub(r"^### ", "#### ", answer, flags=re.M)  # a setting's heading, below the README's ###
readme = Path("README.md")
start, end = "<!-- what-to-train: start -->", "<!-- what-to-train: end -->"
text = readme.read_text()
before, rest = text.split(start)
readme.write_text(f"{before}{start}\n{answer}\n{end}{rest.split(end)[1]}")
PY
echo "updated docs/report-sweep.png ($(stat -c %s docs/report-sweep.png) bytes) and README.md"
