"""Paste what README shows of a results folder (`answer.readme_block`) between README's markers
`<!-- NAME: start -->` and `<!-- NAME: end -->`. Usage: python scripts/paste_answer.py RESULTS NAME"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import answer  # noqa: E402  (no framework: a reader)
from benchmarks.results import reading  # noqa: E402

results_dir, name = sys.argv[1], sys.argv[2]
readme = Path(__file__).resolve().parent.parent / "README.md"
start, end = f"<!-- {name}: start -->", f"<!-- {name}: end -->"
text = readme.read_text()
before, rest = text.split(start)
block = answer.readme_block(*reading.load(results_dir))
readme.write_text(f"{before}{start}\n{block}{end}{rest.split(end)[1]}")
print(f"README.md: {name} block updated from {results_dir}")
