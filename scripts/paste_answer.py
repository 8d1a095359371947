"""Paste what README shows of a results folder (`answer.readme_block`) between README's markers
`<!-- NAME: start -->` and `<!-- NAME: end -->`. Usage: python scripts/paste_answer.py RESULTS NAME"""

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.train import backends  # noqa: E402

backends.for_readers()  # before Keras loads: reading results trains nothing, any installed backend will do
backends.import_tensorflow_quietly(trains=False)
from benchmarks.report import answer  # noqa: E402
from benchmarks.results import reading  # noqa: E402

results_dir, name = sys.argv[1], sys.argv[2]
readme = Path(__file__).resolve().parent.parent / "README.md"
start, end = f"<!-- {name}: start -->", f"<!-- {name}: end -->"
text = readme.read_text()
before, rest = text.split(start)
block = answer.readme_block(reading.load(results_dir)[0])
readme.write_text(f"{before}{start}\n{block}{end}{rest.split(end)[1]}")
print(f"README.md: {name} block updated from {results_dir}")
