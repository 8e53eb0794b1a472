#!/usr/bin/env bash
# Run the whole suite (unit, host, e2e, browser) with the host's python; extra args go to pytest
# (paths may be given as tests/... from the repository root).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/.host/host.env"
export COMFYUI_DIR COMFYUI_PYTHON
# pytest runs inside tests/: its rootdir and testpaths (unit host e2e browser) are there, and the pack
# root, a package only ComfyUI may import, is never collected.
cd "$ROOT/tests"
args=()
for arg in "$@"; do args+=("${arg#tests/}"); done
start=$(date +%s)
"$COMFYUI_PYTHON" -m pytest -c pytest.ini --rootdir . "${args[@]}"
# A whole-suite run also checks the other end of the supported transformers range on the unit layer
# (the libraries, no ComfyUI), with that version overlaid on the host's packages.
compat="$ROOT/.host/compat/transformers-${COMPAT_TRANSFORMERS:-none}"
if [ "$#" = 0 ] && [ -f "$compat/.complete" ]; then
  echo "[genassist-test] unit layer again with transformers $COMPAT_TRANSFORMERS"
  PYTHONPATH="$compat" "$COMFYUI_PYTHON" -m pytest -c pytest.ini --rootdir . unit -q
fi
echo "[genassist-test] suite wall time: $(( $(date +%s) - start ))s"
