"""generate() kwargs of the static and compiled decoding paths (see decode_plan.py).

The static KV cache is passed as a Cache object sized to the plan's bucket, under the name this
transformers version gives it ('past_key_values' up to 4.x, 'cache' from 5.x), so the same code runs
on both ends of the supported range. transformers compiles the decode step by itself whenever a static
cache is used on CUDA; that is switched off unless the plan asks for it.
"""

import logging
import weakref

import torch

from .decode_plan import DecodePlan, compile_backend, first_compile

log = logging.getLogger(__name__)


def cache_kwarg_name() -> str:
    from transformers.generation.utils import ALL_CACHE_NAMES

    return ALL_CACHE_NAMES[0]


def static_cache(model, cache_len: int):
    from transformers import StaticCache

    return StaticCache(config=model.config, max_cache_len=cache_len)


# compiled path: one cache per model, bucket, device and dtype, reset and reused, so the compiled graph
# (and its CUDA graphs) see the same buffers on every call
_REUSED: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def reused_cache(model, cache_len: int, device: torch.device):
    caches = _REUSED.setdefault(model, {})
    key = (cache_len, str(device), str(model.dtype))
    if key not in caches:
        caches.clear()  # one bucket kept at a time: its memory is the price of not re-recording graphs
        caches[key] = static_cache(model, cache_len)
    else:
        caches[key].reset()
    return caches[key]


def compile_config(device: torch.device):
    """transformers' CompileConfig for decode_plan.compile_backend (reduce-overhead: CUDA graphs, for inductor
    on CUDA)."""
    from transformers.generation import CompileConfig

    backend = compile_backend(device)
    mode = ("reduce-overhead" if device.type == "cuda" else "default") if backend == "inductor" else None
    config = CompileConfig(fullgraph=False, dynamic=False, backend=backend, mode=mode)
    if device.type != "cuda":
        config._compile_all_devices = True  # transformers compiles on CUDA only unless told otherwise
    return config


def static_kwargs(model, plan: DecodePlan, device: torch.device) -> dict:
    """kwargs for model.generate on plan's path ({} on eager)."""
    if not plan.static:
        return {}
    compiled = plan.path == "compiled"
    cache = reused_cache(model, plan.cache_len, device) if compiled else static_cache(model, plan.cache_len)
    kwargs = {cache_kwarg_name(): cache}
    if compiled:
        kwargs["compile_config"] = compile_config(device)
        if first_compile(model, plan):
            log.warning("GenAssist: compiling the decode step of %s for a %d-token KV cache with %s (first call "
                        "with this size only: seconds with cudagraphs, minutes with inductor)", type(model).__name__,
                        plan.cache_len, compile_backend(device))
    else:
        kwargs["disable_compile"] = True
    return kwargs
