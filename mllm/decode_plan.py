"""Which decoding path a local generate call takes, decided in one place.

eager     transformers' dynamic KV cache, nothing compiled: the default and the fallback.
static    a KV cache pre-allocated for prompt + max_new_tokens (rounded up to a bucket). Alone it is not
          faster: measured on an H200 (bf16, 256 + 128 tokens) 0.80x plain generate at 1.5B and 0.96-1.02x
          at 7B, since batch-1 decoding is bound by kernel launches, not by cache growth.
compiled  static, plus the one-token decode step compiled (opt-in: Load MLLM / Load LISA ``compile``): on
          CUDA captured and replayed as CUDA graphs, 2.37x at 1.5B, 1.23x at 7B on the same H200, 17-18 s
          first call; on a CPU compiled by inductor. The cache length is bucketed so later calls reuse the
          compiled graph.

GENASSIST_DECODE=eager|static|compiled forces a path where compile is off (benches, tests, debugging).
"""

import logging
import os
import shutil
import weakref
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)

MODES = ("auto", "eager", "static", "compiled")
MIN_BUCKET = 256

# models whose static path raised once: they stay on eager (model -> reason)
_FAILED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
# last path logged per model, so the choice is logged once per change, not once per call
_LOGGED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
# model -> cache lengths whose compiled decode step has been built
_COMPILED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class DecodePlan:
    path: str  # "eager" | "static" | "compiled"
    reason: str
    cache_len: int = 0  # static/compiled: KV cache length (a bucket >= prompt + max_new_tokens)

    @property
    def static(self) -> bool:
        return self.path in ("static", "compiled")


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


def static_unsupported(model) -> str:
    """Why a static KV cache cannot be used with this model ('' when it can)."""
    if getattr(model, "hf_quantizer", None) is not None:
        return "quantized weights (bitsandbytes) decode eagerly"
    if len(set(getattr(model, "hf_device_map", {"": 0}).values())) > 1:
        return "the model is split across devices"
    if getattr(model, "_supports_static_cache", True) is False:
        return f"{type(model).__name__} does not support a static KV cache"
    return _FAILED.get(model, "")


def decode_path(model, device: torch.device, prompt_len: int, max_new_tokens: int,
                mode: str = "auto") -> DecodePlan:
    """The path for one generate call. mode: the backend's setting ('auto', or one path forced)."""
    forced = os.environ.get("GENASSIST_DECODE", "").strip().lower()
    if forced in MODES[1:] and mode == "auto":
        mode, why = forced, "GENASSIST_DECODE"
    else:
        why = "compile on" if mode == "compiled" else "asked for"
    if mode not in MODES:
        raise ValueError(f"decode mode must be one of {MODES}, got {mode!r}")
    length = cache_bucket(prompt_len + max_new_tokens)
    if mode == "eager":
        return DecodePlan("eager", why)
    blocked = static_unsupported(model)
    if blocked:
        return DecodePlan("eager", blocked)
    if mode == "compiled":
        missing = compiler_missing(device)
        if missing:  # a static cache alone is no faster, so without the compiler decoding stays eager
            return DecodePlan("eager", f"compile off: {missing}")
        return DecodePlan("compiled", why, length)
    if mode == "static":
        return DecodePlan("static", why, length)
    return DecodePlan("eager", "the default; turn on compile for CUDA-graph decoding")


def log_plan(model, plan: DecodePlan) -> None:
    """One line per model when its path (or reason) changes."""
    key = (plan.path, plan.reason)
    level = logging.INFO if _LOGGED.get(model) != key else logging.DEBUG
    _LOGGED[model] = key
    size = f", KV cache {plan.cache_len} tokens" if plan.static else ""
    log.log(level, "GenAssist: decoding %s on the %s path (%s%s)", type(model).__name__, plan.path,
            plan.reason, size)


def mark_failed(model, error: BaseException) -> None:
    _FAILED[model] = f"the static path failed earlier ({type(error).__name__}: {error})"[:300]


def first_compile(model, plan: DecodePlan) -> bool:
    """True (once per model and cache length) when this call will build the compiled graph."""
    built = _COMPILED.setdefault(model, set())
    if plan.path != "compiled" or plan.cache_len in built:
        return False
    built.add(plan.cache_len)
    return True
