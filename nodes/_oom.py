"""What the pack does when the GPU runs out of memory, written once for every node.

A step that can run smaller (a DiffRIR tile, a canvas window) frees memory and retries once at the
smaller size, as core's upscaler halves its tile; a step that cannot, or whose retry also runs out,
frees memory and raises GenAssistOutOfMemory: one message naming what to change, never the raw CUDA
trace, and with every model ComfyUI manages unloaded so the next prompt starts from a cleaner card
(quantized MLLMs and LISA, which cannot move, stay).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import TypeVar

import comfy.model_management as mm

log = logging.getLogger("GenAssist")

S = TypeVar("S")
T = TypeVar("T")

# torch.cuda.OutOfMemoryError (the same class as torch.OutOfMemoryError) where torch has it
OOM_TYPES: tuple[type[BaseException], ...] = (mm.OOM_EXCEPTION,)

GENERAL_ADVICE = "or start ComfyUI with --lowvram (or --reserve-vram 0 if other programs do not need the GPU)"

MLLM_ADVICE = ("Load MLLM: quantization 8bit or 4bit (bitsandbytes), or a smaller model; MLLM Server: run the "
               "model in another process or on another machine; fewer max_new_tokens; " + GENERAL_ADVICE)
LISA_ADVICE = ("Load LISA: quantization 8bit or 4bit (the language model only; SAM stays full precision), or "
               "LISA-7B instead of 13B; a Grounded Segmenter with a smaller MLLM or an MLLM Server; "
               + GENERAL_ADVICE)

SAM3_ADVICE = "Load SAM 3: dtype bf16 or fp16; " + GENERAL_ADVICE


class GenAssistOutOfMemory(RuntimeError):
    """Out of GPU memory even after freeing it (and after the smaller retry, where there is one)."""


def oom_summary(error: BaseException) -> str:
    """The first two sentences of torch's message ('CUDA out of memory. Tried to allocate 2.00 GiB'): the rest
    is the simulated or real card's totals and allocator advice that the pack's own advice replaces."""
    text = str(error).strip().splitlines()
    return ". ".join(text[0].split(". ")[:2])[:200] if text else type(error).__name__


def free_gpu_memory() -> None:
    """Unload every model ComfyUI manages to system RAM and return cached blocks to the driver, as core does
    after an OOM: models come back from RAM (not from disk) the next time they are needed."""
    mm.unload_all_models()
    gc.collect()
    mm.soft_empty_cache()


def out_of_memory_error(what: str, reason: str, advice: str) -> GenAssistOutOfMemory:
    return GenAssistOutOfMemory(
        f"GenAssist: out of GPU memory in {what} ({reason}). To fit your card: {advice}. Every model "
        f"ComfyUI manages was unloaded to system RAM, so the next prompt can run.")


def fail_on_oom(run: Callable[[], T], what: str, advice: str) -> T:
    """run(); an OOM frees memory and becomes GenAssistOutOfMemory naming ``advice``."""
    try:
        return run()
    except OOM_TYPES as error:
        reason = oom_summary(error)
    # raised outside the except block: the failed attempt's frames (and their tensors) are not kept alive
    # by the new error's __context__
    free_gpu_memory()
    raise out_of_memory_error(what, reason, advice)


def retry_on_oom(run: Callable[[S], T], size: S, shrink: Callable[[S], S | None], what: str, advice: str,
                 describe: Callable[[S], str] = str) -> T:
    """run(size); on OOM free memory and run(shrink(size)) once, logging both sizes. shrink returning
    None (nothing smaller makes sense), or a second OOM, raises GenAssistOutOfMemory naming ``advice``."""
    try:
        return run(size)
    except OOM_TYPES as error:
        reason = oom_summary(error)
    free_gpu_memory()
    smaller = shrink(size)
    if smaller is None:
        raise out_of_memory_error(f"{what} at {describe(size)}", reason, advice)
    log.warning("GenAssist: out of GPU memory in %s at %s (%s); freed memory, retrying once at %s",
                what, describe(size), reason, describe(smaller))
    result = fail_on_oom(lambda: run(smaller), f"{what} at {describe(size)} and again at {describe(smaller)}",
                         advice)
    log.info("GenAssist: %s succeeded at %s after the out-of-memory retry", what, describe(smaller))
    return result
