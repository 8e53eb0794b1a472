"""Shared steps of the prompting nodes: images to PIL (mask painted black), settings, batching."""

import torch

from ..mllm.backend import GenerationSettings
from . import _types as types
from ._tensors import as_rgb, mask_for, to_pil

MASK_THRESHOLD = 0.49  # LLMGA binarises 8-bit masks at 125 of 255


def black_out_masked(image: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """LLMGA's MLLM input: image * (1 - mask) with the mask binarised, so the region to fill is black."""
    rgb = as_rgb(image)
    if mask is None:
        return rgb
    hole = (mask_for(rgb, mask) >= MASK_THRESHOLD).float()
    return rgb * (1.0 - hole).unsqueeze(-1)


def pil_batch(image: torch.Tensor | None, mask: torch.Tensor | None = None) -> list:
    """One PIL image per batch item (never dropping one); [None] when there is no image."""
    if image is None:
        if mask is not None:
            raise ValueError("a mask was connected without an image: connect the image it belongs to")
        return [None]
    return to_pil(black_out_masked(image, mask))


def generation_settings(seed: int, max_new_tokens: int, temperature: float, top_p: float = 1.0) -> GenerationSettings:
    return GenerationSettings(max_new_tokens=int(max_new_tokens), temperature=float(temperature),
                              top_p=float(top_p), seed=int(seed))


def generation_inputs(*overrides) -> list:
    """seed, max_new_tokens and temperature, in that order; an override replaces one of them in place."""
    return types.with_overrides([
        types.seed_input("Sampling seed: the same inputs and seed give the same answer."),
        types.io.Int.Input("max_new_tokens", default=512, min=8, max=8192,
                           tooltip="Longest answer, in tokens (thinking models need more)."),
        types.io.Float.Input("temperature", default=0.2, min=0.0, max=2.0, step=0.05,
                             tooltip="0 = greedy (always the likeliest word); higher = more varied. LLMGA uses 0.2."),
    ], *overrides)
