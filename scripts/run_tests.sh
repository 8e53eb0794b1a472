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
echo "[genassist-test] suite wall time: $(( $(date +%s) - start ))s"
