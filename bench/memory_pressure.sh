#!/usr/bin/env bash
# GenAssist on simulated 8/12/16/24 GB cards (bench/memory_pressure.py), on a CUDA machine:
#   bench/memory_pressure.sh OUT_DIR [extra args, e.g. --pipelines refine_sample,lisa_inpaint,canvas]
# Writes OUT_DIR/memory_pressure.{json,md} and OUT_DIR/memory_pressure.log. Needs ComfyUI at $COMFYUI_DIR
# (default: the one .host/host.env names) and segment-anything (SAM ViT-H shapes); about 4 minutes on an H200.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:?usage: bench/memory_pressure.sh OUT_DIR [args]}"
shift
if [ -z "${COMFYUI_DIR:-}" ] && [ -f "$ROOT/.host/host.env" ]; then source "$ROOT/.host/host.env"; fi
export COMFYUI_DIR HF_HUB_OFFLINE=1
PYTHON="${COMFYUI_PYTHON:-python3}"
mkdir -p "$OUT"
timeout "${BENCH_TIMEOUT_S:-540}" "$PYTHON" "$ROOT/bench/memory_pressure.py" --out "$OUT" "$@" 2>&1 \
  | tee "$OUT/memory_pressure.log"
