#!/usr/bin/env bash
# GenRec Explorer set-up and launch. Creates .venv in the repo root on first use and installs
# whatever is missing (the CPU build of torch first, so pip never pulls a CUDA build).
#   ./dev.sh app [ARGS...]   launch the explorer on the bundled default project
#   ./dev.sh test [ARGS...]  run the whole test suite (pytest ARGS)
#   ./dev.sh genrec ARGS...  run the engine CLI
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
TORCH_VERSION=2.13.0

ensure_env() {
  if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
  fi
  local stamp=.venv/.genrec-installed
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -c "import torch" 2>/dev/null || .venv/bin/python -m pip install -q "torch==$TORCH_VERSION"
    .venv/bin/python -m pip install -q -e ".[test]"
    touch "$stamp"
  fi
}

cmd=${1:-app}
shift || true
ensure_env
case "$cmd" in
  app) exec .venv/bin/genrec-explorer "$@" ;;
  test) exec env QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest "$@" ;;
  genrec) exec .venv/bin/genrec "$@" ;;
  *) echo "usage: ./dev.sh app|test|genrec [ARGS...]" >&2; exit 2 ;;
esac
