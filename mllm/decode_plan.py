"""Which decoding path a local generate call takes, decided in one place.

eager     transformers' dynamic KV cache, nothing recorded or compiled: the default and the last fallback.
static    a KV cache pre-allocated for prompt + max_new_tokens (rounded up to a bucket). Alone it is not
          faster: measured on an H200 (bf16, 256 + 128 tokens) 0.80x plain generate at 1.5B and 0.96-1.02x
          at 7B, since batch-1 decoding is bound by kernel launches, not by cache growth.
graphs    static, plus each decode step recorded once as a CUDA graph and replayed (step_graphs.py): no
          compiler, one recording per cache bucket. The first choice of ``compile`` on CUDA.
compiled  static, plus the decode step compiled by torch.compile: on CUDA dynamo's cudagraphs backend
          (2.37x at 1.5B, 1.23x at 7B on the H200 above, 17-18 s first call), inductor on a CPU. The
          choice of ``compile`` where graphs cannot run, and graphs' fallback.

Modes (a backend's ``decode_mode``): 'auto' (the default path), 'compile' (Load MLLM / Load LISA ``compile``:
the fastest path that runs here), or one path forced. GENASSIST_DECODE=<path> forces one where the mode is
'auto' (benches, tests, debugging). A path that raises is remembered per model and the call redone on the
next one: graphs -> compiled -> eager.
"""

import logging
import os
import shutil
import weakref
from dataclasses import dataclass, field

import torch

log = logging.getLogger(__name__)

PATHS = ("eager", "static", "graphs", "compiled")
MODES = ("auto", "compile") + PATHS
STATIC_PATHS = ("static", "graphs", "compiled")
MIN_BUCKET = 256


@dataclass
class _ModelState:
    failed: dict = field(default_factory=dict)  # path -> why it is not used any more
    logged: tuple = ()  # the last (path, reason) logged at INFO


_STATE: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _state(model) -> _ModelState:
    return _STATE.setdefault(model, _ModelState())


@dataclass(frozen=True)
class DecodePlan:
    path: str  # one of PATHS
    reason: str
    cache_len: int = 0  # static paths: KV cache length (a bucket >= prompt + max_new_tokens)

    @property
    def static(self) -> bool:
        return self.path in STATIC_PATHS


def cache_bucket(tokens: int) -> int:
    """The smallest power of two >= tokens and >= MIN_BUCKET, so prompts of similar length share a shape."""
    size = MIN_BUCKET
    while size < tokens:
        size *= 2
    return size


def compile_backend(device: torch.device) -> str:
    """dynamo's cudagraphs on CUDA (captures the decode step, seconds of warm-up, no code generation),
    inductor elsewhere; GENASSIST_COMPILE_BACKEND names another (inductor on CUDA: CUDA graphs plus generated
    kernels, minutes of warm-up; aot_eager: the graph capture alone, for quick checks)."""
    return os.environ.get("GENASSIST_COMPILE_BACKEND", "").strip() or (
        "cudagraphs" if device.type == "cuda" else "inductor")


def compiler_missing(device: torch.device) -> str:
    """Why the compile backend cannot run here ('' when it can): only inductor generates code."""
    if not hasattr(torch, "compile"):
        return "this torch has no torch.compile"
    if compile_backend(device) != "inductor":
        return ""
    if device.type == "cpu" and not (shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")):
        return "no C compiler on PATH (inductor on CPU needs one)"
    if device.type == "cuda":
        try:
            import triton  # noqa: F401
        except ImportError:
            return "triton is not installed (inductor on CUDA needs it)"
    return ""


def graphs_blocked(model, device: torch.device) -> str:
    """Why decode steps cannot be recorded as CUDA graphs here ('' when they can). transformers builds the
    attention mask before the step (prepare_inputs_for_generation), so the step itself reads no tensor on
    the host (tests/unit/test_step_graphs.py checks every backend and family); a recording that fails
    anyway is remembered here."""
    if device.type != "cuda":
        return "CUDA graphs need a CUDA device"
    return _state(model).failed.get("graphs", "")


def static_unsupported(model) -> str:
    """Why a static KV cache cannot be used with this model ('' when it can)."""
    if getattr(model, "hf_quantizer", None) is not None:
        return "quantized weights (bitsandbytes) decode eagerly"
    if len(set(getattr(model, "hf_device_map", {"": 0}).values())) > 1:
        return "the model is split across devices"
    if getattr(model, "_supports_static_cache", True) is False:
        return f"{type(model).__name__} does not support a static KV cache"
    return _state(model).failed.get("static", "")


def _compiled_or_eager(model, device: torch.device, why: str, length: int) -> DecodePlan:
    missing = compiler_missing(device) or _state(model).failed.get("compiled", "")
    if missing:  # a static cache alone is no faster, so without the compiler decoding stays eager
        return DecodePlan("eager", f"compile off: {missing}")
    return DecodePlan("compiled", why, length)


def decode_path(model, device: torch.device, prompt_len: int, max_new_tokens: int,
                mode: str = "auto") -> DecodePlan:
    """The path for one generate call. mode: the backend's setting (MODES)."""
    forced = os.environ.get("GENASSIST_DECODE", "").strip().lower()
    if forced in PATHS and mode == "auto":
        mode, why = forced, "GENASSIST_DECODE"
    else:
        why = "compile on" if mode == "compile" else "asked for"
    if mode not in MODES:
        raise ValueError(f"decode mode must be one of {MODES}, got {mode!r}")
    length = cache_bucket(prompt_len + max_new_tokens)
    if mode in ("auto", "eager"):
        return DecodePlan("eager", "the default; turn on compile for CUDA-graph decoding" if mode == "auto" else why)
    blocked = static_unsupported(model)
    if blocked:
        return DecodePlan("eager", blocked)
    if mode == "compile":
        graphs_off = graphs_blocked(model, device)
        if not graphs_off:
            return DecodePlan("graphs", why, length)
        return _compiled_or_eager(model, device, f"{why}; no CUDA graphs: {graphs_off}", length)
    if mode == "compiled":
        return _compiled_or_eager(model, device, why, length)
    failed = _state(model).failed.get(mode, "")
    return DecodePlan("eager", failed) if failed else DecodePlan(mode, why, length)


def log_plan(model, plan: DecodePlan) -> None:
    """One line per model when its path (or reason) changes."""
    state = _state(model)
    key = (plan.path, plan.reason)
    level = logging.INFO if state.logged != key else logging.DEBUG
    state.logged = key
    size = f", KV cache {plan.cache_len} tokens" if plan.static else ""
    log.log(level, "GenAssist: decoding %s on the %s path (%s%s)", type(model).__name__, plan.path,
            plan.reason, size)


def last_path(model) -> str:
    """The path this model's latest generate call took ('' before any): what ran after fallbacks."""
    return _state(model).logged[0] if _state(model).logged else ""


def mark_failed(model, plan: DecodePlan, error: BaseException) -> None:
    """Remember that plan's path raised for this model (a failing static path blocks all three)."""
    _state(model).failed[plan.path] = f"the {plan.path} path failed earlier ({type(error).__name__}: {error})"[:300]
