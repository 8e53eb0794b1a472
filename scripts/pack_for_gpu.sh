#!/usr/bin/env bash
# Prepare .gpu/, the folder scripts/gpu_check.sh needs on a bare GPU machine without internet:
#   .gpu/wheels/   torchsde, trampoline, segment-anything (what ComfyUI and the SAM tests import that a
#                  plain torch + transformers image lacks), for Python ${GPU_PYTHON_VERSION:-3.12}
#   .gpu/ComfyUI/  this host's ComfyUI without its own tests and the tokenizers GenAssist's tests never load
# Run it here (it needs the package registry), then send .gpu along with the checkout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/.gpu"
PYVER="${GPU_PYTHON_VERSION:-3.12}"
log() { printf '[pack-for-gpu] %s\n' "$*" >&2; }

source "$ROOT/.host/host.env" 2>/dev/null || true
COMFY="${COMFYUI_DIR:-$ROOT/.host/ComfyUI}"
PY="${COMFYUI_PYTHON:-python3}"
[ -f "$COMFY/main.py" ] || { log "no ComfyUI at $COMFY: run scripts/setup_host.sh first"; exit 1; }

rm -rf "$OUT.partial"
mkdir -p "$OUT.partial/wheels"
log "wheels for Python $PYVER"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
  -d "$OUT.partial/wheels" torchsde trampoline segment-anything

log "ComfyUI from $COMFY (trimmed)"
# tokenizers the tests load: sd1 (SD1.5 CLIP), t5 (SDXL tests), llama/qwen25/t5_pile (tiny MLLMs)
tar -C "$COMFY" -cf - \
  --exclude=./tests --exclude=./tests-unit --exclude='__pycache__' --exclude=./.git --exclude=./.github \
  --exclude=./output --exclude=./input --exclude=./temp --exclude=./user --exclude=./custom_nodes \
  --exclude=./comfy/text_encoders/ace_lyrics_tokenizer --exclude=./comfy/text_encoders/byt5_tokenizer \
  --exclude=./comfy/text_encoders/hydit_clip_tokenizer --exclude='./models/*/*' . \
  | (mkdir -p "$OUT.partial/ComfyUI" && tar -C "$OUT.partial/ComfyUI" -xf -)
mkdir -p "$OUT.partial/ComfyUI/custom_nodes"

rm -rf "$OUT"
mv "$OUT.partial" "$OUT"
size=$(du -sm "$OUT" | cut -f1)
log "ready: $OUT (${size} MiB; the limit for what is sent is 64 MiB with the checkout)"
[ "$size" -lt 60 ] || { log "too large: ${size} MiB"; exit 1; }
