#!/usr/bin/env bash
# Start ComfyUI on 127.0.0.1 with GenAssist loaded (CPU when no CUDA device is present).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/.host/host.env"
extra=()
"$COMFYUI_PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null || extra+=(--cpu)
cd "$COMFYUI_DIR"
exec "$COMFYUI_PYTHON" main.py --listen 127.0.0.1 --extra-model-paths-config "$ROOT/.host/extra_model_paths.yaml" \
  --disable-auto-launch "${extra[@]}" "$@"
