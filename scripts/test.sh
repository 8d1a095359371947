#!/usr/bin/env bash
# README's test command: what the tests need beyond pip (a headless Chromium for the report's
# browser tests, and tox), then the suite exactly as CI runs it. Extra arguments go to tox's pytest.
#
#   scripts/test.sh            # tox -e py,jax: the whole suite on TensorFlow, then on JAX without it
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium-headless-shell > /dev/null && ! command -v chromium > /dev/null; then
  echo "scripts/test.sh: installing Debian's chromium-headless-shell for the browser tests" >&2
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q > /dev/null && $sudo apt-get install -y -q --no-install-recommends chromium-headless-shell > /dev/null
fi
if ! python -m tox --version > /dev/null 2>&1; then
  python -m pip install --quiet tox
fi
if [ $# -gt 0 ]; then python -m tox -e py,jax -- "$@"; else python -m tox -e py,jax; fi
