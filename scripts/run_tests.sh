#!/usr/bin/env bash
# Run the whole suite (unit, host, e2e, browser) with the host's python; extra args go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/.host/host.env"
export COMFYUI_DIR COMFYUI_PYTHON
cd "$ROOT"
start=$(date +%s)
# no paths given: pytest.ini's testpaths (unit, host, e2e, browser) run in that order
"$COMFYUI_PYTHON" -m pytest -c tests/pytest.ini --rootdir tests "$@"
echo "[genassist-test] suite wall time: $(( $(date +%s) - start ))s"
