#!/usr/bin/env bash
# One-step set-up of a fresh machine: a virtual environment in .venv with the project
# and its test extras. Safe to run again: pip skips what is already installed.
#
# Why this is a script and not a bare `pip install -e .[test]`: pyradiomics (needed by
# frd-score for the Fréchet Radiomics Distance) ships on PyPI only as an sdist whose
# build needs `versioneer` and build isolation turned off.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)
"${PIP[@]}" install -q --upgrade "pip>=24" setuptools wheel
# torch first, pinned to the releases that lie on the build machines' disk.
"${PIP[@]}" install -q "torch>=2.4,<=2.14.1" "torchvision>=0.19,<=0.29.1"
if ! .venv/bin/python -c "import radiomics" 2>/dev/null; then
  echo "setup: building pyradiomics (sdist, no build isolation)"
  "${PIP[@]}" install -q versioneer "numpy>=1.26" scikit-build-core cmake ninja
  "${PIP[@]}" install -q --no-build-isolation pyradiomics
fi
"${PIP[@]}" install -q -e ".[test]"
# The audit page's browser test drives Debian's Chromium through Playwright (Playwright's
# own browser download needs the network). Installed when we may (root with apt-get);
# otherwise say how, and that test skips naming the missing browser.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing Debian's chromium (for the audit page's browser test)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "setup: no chromium; the audit page's browser test will skip (sudo apt-get install chromium)"
  fi
fi
echo "setup: ready ($(.venv/bin/factory --version))"
