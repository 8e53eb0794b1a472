#!/usr/bin/env bash
# GPU check on a bare machine without internet: the recorded-CUDA-graph decoding tests, the decoding and LISA
# benches, then the host and e2e test layers with ComfyUI on CUDA, then the compiled decoding path. Results go to OUTDIR (JSON, junit XML, logs,
# summary.txt). Needs python3 with torch + transformers, and .gpu/ from scripts/pack_for_gpu.sh
# (wheels + a trimmed ComfyUI); the stand-ins for `av` and the frontend package are written here.
#
#   scripts/gpu_check.sh OUTDIR
#   GPU_CHECK_SMALL=1 scripts/gpu_check.sh OUTDIR     # CPU dry run: small shapes, a few tests, on the CPU
#   GPU_CHECK_STAGES="host e2e" scripts/gpu_check.sh OUTDIR   # only some of: graphs decode segment
#                                                              # compile inductor memory host e2e
#
# Each stage has a time limit and the whole run a budget (GPU_CHECK_BUDGET_S, default 470 s), so a slow
# stage never costs the ones after it; a stage cut short says so in summary.txt.
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$1" && OUT="$(cd "$1" && pwd)"
PY="${GPU_PYTHON:-python3}"
GPU="$ROOT/.gpu"
SITE="${TMPDIR:-/tmp}/genassist-gpu-site"
SMALL="${GPU_CHECK_SMALL:-0}"
STAGES=" ${GPU_CHECK_STAGES:-graphs decode segment compile memory host e2e} "
BUDGET="${GPU_CHECK_BUDGET_S:-470}"
START=$(date +%s)
log() { printf '[gpu-check] %s\n' "$*" | tee -a "$OUT/summary.txt" >&2; }
: > "$OUT/summary.txt"

# --- what the image lacks -------------------------------------------------------------------
[ -d "$GPU/ComfyUI" ] || { log "no $GPU/ComfyUI: run scripts/pack_for_gpu.sh and send .gpu along"; exit 1; }
mkdir -p "$SITE/standins"
if ! "$PY" -c "import torchsde, trampoline, segment_anything" 2>/dev/null; then
  "$PY" -m pip install -q --no-index --no-deps --target "$SITE/wheels" "$GPU"/wheels/*.whl \
    || log "installing the carried wheels failed"
fi
if ! "$PY" -c "import av" 2>/dev/null; then  # PyAV: imported at start by comfy_api, never used by the pack
  mkdir -p "$SITE/standins/av/container" "$SITE/standins/av/subtitles"
  cat > "$SITE/standins/av/__init__.py" <<'PYEOF'
"""Stand-in for PyAV (video I/O), which GenAssist never uses: any attribute is a placeholder class."""


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return type(name, (), {})
PYEOF
  cp "$SITE/standins/av/__init__.py" "$SITE/standins/av/container/__init__.py"
  cp "$SITE/standins/av/__init__.py" "$SITE/standins/av/subtitles/__init__.py"
  cp "$SITE/standins/av/__init__.py" "$SITE/standins/av/subtitles/stream.py"
fi
if ! "$PY" -c "import comfyui_frontend_package" 2>/dev/null; then  # the server serves no web UI here
  mkdir -p "$SITE/standins/comfyui_frontend_package/static" "$SITE/standins/comfyui_frontend_package-0.0.0.dist-info"
  : > "$SITE/standins/comfyui_frontend_package/__init__.py"
  echo "<html><body>no frontend on this machine</body></html>" > "$SITE/standins/comfyui_frontend_package/static/index.html"
  printf 'Metadata-Version: 2.1\nName: comfyui-frontend-package\nVersion: 0.0.0\n' \
    > "$SITE/standins/comfyui_frontend_package-0.0.0.dist-info/METADATA"
fi
export PYTHONPATH="$SITE/standins:$SITE/wheels${PYTHONPATH:+:$PYTHONPATH}"
export COMFYUI_DIR="$GPU/ComfyUI" COMFYUI_PYTHON="$PY" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
mkdir -p "$ROOT/.host/custom_nodes"
[ -e "$ROOT/.host/custom_nodes/genassist" ] || ln -s "$ROOT" "$ROOT/.host/custom_nodes/genassist"
"$PY" - > "$OUT/environment.txt" 2>&1 <<'PYEOF'
import platform, torch, transformers
print("python", platform.python_version(), "torch", torch.__version__, "transformers", transformers.__version__)
print("device", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
PYEOF
log "$(tr '\n' ' ' < "$OUT/environment.txt")"

# --- stages ---------------------------------------------------------------------------------
want() { [[ "$STAGES" == *" $1 "* ]]; }
stage() {  # stage NAME LIMIT_S command...: run in ROOT, log to OUT/NAME.log, within the budget
  local name=$1 limit=$2; shift 2
  local left=$(( BUDGET - ($(date +%s) - START) ))
  [ "$left" -lt "$limit" ] && limit=$left
  if [ "$limit" -lt 20 ]; then log "$name: skipped (budget spent)"; return; fi
  local t0=$(date +%s)
  (cd "$ROOT" && timeout --kill-after=10 "$limit" "$@") > "$OUT/$name.log" 2>&1
  local rc=$? took=$(( $(date +%s) - t0 ))
  case $rc in
    0) log "$name: ok (${took}s)";;
    124|137) log "$name: cut short after ${took}s (limit ${limit}s)";;
    *) log "$name: FAILED rc=$rc (${took}s): $(tail -n 3 "$OUT/$name.log" | tr '\n' ' ' | cut -c1-300)";;
  esac
}
pytest_layer() {  # pytest_layer NAME LIMIT_S DEVICE tests...
  local name=$1 limit=$2 device=$3; shift 3
  stage "$name" "$limit" env GENASSIST_TEST_DEVICE="$device" bash -c 'cd tests && "$0" -m pytest -c pytest.ini \
    --rootdir . -q -p no:cacheprovider --junitxml="$1" "${@:2}"' "$PY" "$OUT/$name.xml" "$@"
}

if [ "$SMALL" = 1 ]; then
  decode=(--device cpu --prompt-tokens 32 --new-tokens 8 --repeats 1)
  stage decode_small 300 "$PY" bench/mllm_decode.py --arch small "${decode[@]}" --json "$OUT/decode_small.json"
  stage decode_small_compile 300 env GENASSIST_COMPILE_BACKEND=aot_eager "$PY" bench/mllm_decode.py --arch small \
    "${decode[@]}" --paths compiled --json "$OUT/decode_small_compile.json"
  stage segment_lisa_small 300 "$PY" bench/segment.py --device cpu --skip-cache --lisa-small-cpu --lisa-tokens 4 \
    --json "$OUT/segment_lisa.json"
  pytest_layer graphs 300 cpu unit/test_step_graphs.py
  pytest_layer host 300 cpu host/test_restoration_nodes.py -k free_memory
  pytest_layer e2e 300 cpu e2e/test_import_smoke.py
else
  # real CUDA-graph recordings of every local backend, token-identical to plain generate (unit layer)
  want graphs && pytest_layer graphs 120 cuda unit/test_step_graphs.py
  if want decode; then
    stage decode_qwen2-1.5b 90 "$PY" bench/mllm_decode.py --arch qwen2-1.5b --json "$OUT/decode_qwen2-1.5b.json"
    stage decode_vicuna-7b 90 "$PY" bench/mllm_decode.py --arch vicuna-7b --json "$OUT/decode_vicuna-7b.json"
  fi
  # LISA-7B's stages per decoding path and SAM 3 (released shape) in the same run
  want segment && stage segment 150 "$PY" bench/segment.py --skip-cache --lisa-tokens 64 \
    --json "$OUT/segment.json"
  # simulated 8/12/16/24 GB cards with real-shape random-weight models (bench/memory_pressure.py)
  want memory && stage memory_pressure 200 env BENCH_TIMEOUT_S=190 bash bench/memory_pressure.sh "$OUT/memory"
  # CUDA graphs over the dynamo-captured decode step without inductor code generation (short warm-up)
  want compile && stage decode_qwen2-1.5b_cudagraphs 90 env GENASSIST_COMPILE_BACKEND=cudagraphs "$PY" \
    bench/mllm_decode.py --arch qwen2-1.5b --paths compiled --repeats 2 --json "$OUT/decode_qwen2-1.5b_cudagraphs.json"
  # inductor code generation: minutes of warm-up, only when asked for
  want inductor && stage decode_qwen2-1.5b_compile 200 "$PY" bench/mllm_decode.py --arch qwen2-1.5b \
    --paths compiled --repeats 2 --json "$OUT/decode_qwen2-1.5b_compile.json"
  want host && pytest_layer host 150 cuda host
  want e2e && pytest_layer e2e 200 cuda e2e
fi
"$PY" "$ROOT/scripts/bench_table.py" "$OUT" > "$OUT/table.txt" 2>&1 && cat "$OUT/table.txt" >> "$OUT/summary.txt"
log "done in $(( $(date +%s) - START ))s; results in $OUT (decoding speeds: table.txt)"
