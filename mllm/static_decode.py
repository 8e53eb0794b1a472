"""generate() arguments of the static, graphs and compiled decoding paths (see decode_plan.py).

The static KV cache is passed as a Cache object sized to the plan's bucket, under the name this
transformers version gives it ('past_key_values' up to 4.x, 'cache' from 5.x), so the same code runs
on both ends of the supported range. transformers compiles the decode step by itself whenever a static
cache is used on CUDA; that is switched off on the static path. On the graphs path transformers' hook for
a compiled decode step (``get_compiled_call``) hands out our recorded CUDA graphs instead.
"""

import contextlib
import logging
import weakref
from dataclasses import dataclass

import torch

from .decode_plan import DecodePlan, compile_backend
from .step_graphs import StepGraphs

log = logging.getLogger(__name__)


def cache_kwarg_name() -> str:
    from transformers.generation.utils import ALL_CACHE_NAMES

    return ALL_CACHE_NAMES[0]


def static_cache(model, cache_len: int):
    from transformers import StaticCache

    return StaticCache(config=model.config, max_cache_len=cache_len)


@dataclass
class _Held:
    """The buffers a compiled or recorded decode step was built on, kept for the next call."""
    key: tuple
    cache: object
    step: StepGraphs | None  # the graphs path's recordings


# graphs/compiled paths: one cache per model (path, bucket, device, dtype), reset and reused, so the recorded
# or compiled step sees the same buffers on every call; one at a time, its memory is the price of not
# recording again
_HELD: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def held_buffers(model, plan: DecodePlan, device: torch.device) -> tuple[_Held, bool]:
    """(the model's buffers for plan, True when they are new: this call records or compiles)."""
    key = (plan.path, plan.cache_len, str(device), str(model.dtype))
    held = _HELD.get(model)
    if held is not None and held.key == key:
        held.cache.reset()
        return held, False
    _HELD.pop(model, None)  # the old cache and recordings go before the new ones are allocated
    step = StepGraphs(model) if plan.path == "graphs" else None
    held = _HELD[model] = _Held(key, static_cache(model, plan.cache_len), step)
    return held, True


def release_decode_buffers(module) -> int:
    """Free the KV caches and recorded graphs held for module and its submodules (when ComfyUI offloads it:
    their GPU memory goes with the weights, and a recording must not outlive the weights' addresses).
    Returns how many were released."""
    return sum(_HELD.pop(m, None) is not None for m in module.modules())


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


def _announce(model, plan: DecodePlan, device: torch.device) -> None:
    name = type(model).__name__
    if plan.path == "graphs":
        log.info("GenAssist: recording the decode step of %s as CUDA graphs for a %d-token KV cache (first call "
                 "with this size only, about one step's time)", name, plan.cache_len)
    else:
        log.warning("GenAssist: compiling the decode step of %s for a %d-token KV cache with %s (first call "
                    "with this size only: seconds with cudagraphs, minutes with inductor)", name, plan.cache_len,
                    compile_backend(device))


@contextlib.contextmanager
def path_kwargs(model, plan: DecodePlan, device: torch.device):
    """Yields the kwargs for model.generate on plan's path ({} on eager), with the graphs path's hook in place."""
    if not plan.static:
        yield {}
        return
    if plan.path == "static":
        yield {cache_kwarg_name(): static_cache(model, plan.cache_len), "disable_compile": True}
        return
    held, new = held_buffers(model, plan, device)
    if new:
        _announce(model, plan, device)
    kwargs = {cache_kwarg_name(): held.cache, "compile_config": compile_config(device)}
    if held.step is None:
        yield kwargs
        return
    step = held.step
    step.new_call()
    model.get_compiled_call = lambda compile_config=None: step
    try:
        yield kwargs
    finally:
        del model.get_compiled_call
