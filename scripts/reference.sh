#!/usr/bin/env bash
# The shipped answer: archbench's reference results on the real CIFAR-100 (results/reference/) and
# the report made from them (reports/cifar100/). Resumable like every run: after a kill, the same
# command continues where it stopped and skips what is complete.
#
#   scripts/reference.sh CIFAR100_DIR [run flags]
#
# CIFAR100_DIR holds the dataset as archives or as image folders (train/<class>/*.png and
# test/<class>/*.png). Extra flags go to `run`, e.g. a larger budget with fewer seeds:
#   scripts/reference.sh ~/data/cifar100 --budget 1e14flops --seeds 1
set -euo pipefail
cd "$(dirname "$0")/.."
data=${1:?usage: scripts/reference.sh CIFAR100_DIR [run flags]}
shift
python -m benchmarks run --all --preset reference --seeds 3 --data-dir "$data" --results-dir results/reference "$@"
rm -f reports/cifar100/*.png  # the project's own figures: none of an earlier report left behind
python -m benchmarks report --results-dir results/reference --out reports/cifar100
python scripts/paste_answer.py results/reference reference  # README's opening table (tests/test_reference.py)
