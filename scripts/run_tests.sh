#!/usr/bin/env bash
# Run the whole suite (unit, host, e2e, browser) with the host's python; extra args go to pytest
# (paths may be given as tests/... from the repository root).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# A host given by the caller (COMFYUI_DIR=... scripts/run_tests.sh) wins over the default in host.env.
caller_dir="${COMFYUI_DIR:-}"
source "$ROOT/.host/host.env"
COMFYUI_DIR="${caller_dir:-$COMFYUI_DIR}"
export COMFYUI_DIR COMFYUI_PYTHON
# pytest runs inside tests/: its rootdir and testpaths (unit host e2e browser) are there, and the pack
# root, a package only ComfyUI may import, is never collected.
cd "$ROOT/tests"
args=()
for arg in "$@"; do args+=("${arg#tests/}"); done
start=$(date +%s)
lap() { echo "[genassist-test] $1: $(( $(date +%s) - $2 ))s"; }
"$COMFYUI_PYTHON" -m pytest -c pytest.ini --rootdir . "${args[@]}"
lap "suite on $(basename "$COMFYUI_DIR")" "$start"
if [ "$#" = 0 ]; then
  # A whole-suite run also checks the oldest supported host (the host and e2e layers: the nodes in its
  # registry and its server) ...
  if [ -n "${OLDEST_COMFYUI_DIR:-}" ] && [ -f "$OLDEST_COMFYUI_DIR/main.py" ]; then
    echo "[genassist-test] host and e2e layers again on $(basename "$OLDEST_COMFYUI_DIR")"
    t=$(date +%s)
    COMFYUI_DIR="$OLDEST_COMFYUI_DIR" "$COMFYUI_PYTHON" -m pytest -c pytest.ini --rootdir . host e2e -q
    lap "host + e2e on $(basename "$OLDEST_COMFYUI_DIR")" "$t"
  fi
  # ... and the other end of the supported transformers range on the unit layer (the libraries, no ComfyUI),
  # with that version overlaid on the host's packages.
  compat="$ROOT/.host/compat/transformers-${COMPAT_TRANSFORMERS:-none}"
  if [ -f "$compat/.complete" ]; then
    echo "[genassist-test] unit layer again with transformers $COMPAT_TRANSFORMERS"
    t=$(date +%s)
    PYTHONPATH="$compat" "$COMFYUI_PYTHON" -m pytest -c pytest.ini --rootdir . unit -q
    lap "unit with transformers $COMPAT_TRANSFORMERS" "$t"
  fi
fi
echo "[genassist-test] suite wall time: $(( $(date +%s) - start ))s"
