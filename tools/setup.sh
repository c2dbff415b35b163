#!/usr/bin/env bash
# Create or reuse the local virtual environment and install everything the book
# and the tests need. Safe to run again: each step is skipped when done.
#
#   tools/setup.sh          package + book + test tools, MathJax
#   tools/setup.sh --test   the same, plus headless Chromium for the page tests
#
# Environment: VENV (default .venv), PYTHON (default python3),
# TORCH_INDEX_URL (default: PyTorch's CPU wheels; set it to
# https://download.pytorch.org/whl/cu126, say, for a CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
TORCH_VERSION=2.13.0
TORCH_INDEX_URL=${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}
want_test=0
[ "${1:-}" = "--test" ] && want_test=1

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# 1. The virtual environment.
if [ ! -x "$VENV/bin/python" ]; then
  say "creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
pip_() { "$PY" -m pip install --disable-pip-version-check -q "$@"; }

# 2. torch first: an unpinned torch pulled in by another package would fetch a
#    multi-GB CUDA build. The CPU index carries torch==X+cpu.
if ! "$PY" -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  say "installing torch==$TORCH_VERSION from $TORCH_INDEX_URL"
  pip_ --retries 1 --timeout 20 "torch==$TORCH_VERSION" --extra-index-url "$TORCH_INDEX_URL"
fi

# 3. The package itself (editable) with the book and test extras.
stamp="$VENV/.bnlearn-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "installing bnlearn-book[book,test] (editable)"
  pip_ -e ".[book,test]"
  touch "$stamp"
fi

# 4. MathJax 3, served from the built book so math typesets without network.
mj=book/_static/mathjax
if [ ! -f "$mj/tex-chtml.js" ]; then
  if command -v npm >/dev/null 2>&1; then
    say "fetching MathJax 3 from npm into $mj"
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent mathjax@3 >/dev/null && tar xzf mathjax-*.tgz)
    rm -rf "$mj" && mkdir -p "$(dirname "$mj")" && cp -r "$tmp/package/es5" "$mj"
    rm -rf "$tmp"
  else
    say "npm not found: the book will load MathJax from its CDN (needs network to show math)"
  fi
fi

# 5. Headless Chromium for the rendered-page tests (Debian's package).
if [ "$want_test" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's chromium"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    say "chromium is missing: install it (Debian/Ubuntu: sudo apt-get install chromium) or set CHROMIUM=/path/to/chrome; the page tests will be skipped"
  fi
fi
say "ready: $VENV"
