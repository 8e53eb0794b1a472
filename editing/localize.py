"""Where a step edits: a painted mask, the plan's box, or the segmenter's mask for the region phrase.

The segmenter finds objects, not places: for "add a glass on the left part of the table" it returns the
table, far larger than a glass. TIE fine-tunes LISA to answer the region the edit goes to; without that
model, the plan's box (where the new thing goes, 0..1000 of the image) is the better mask for an add step.
The choice per mode (ours):

    auto       add steps: the box, else the segmenter. Other steps: the segmenter, else the box.
    segmenter  the segmenter only (the box is ignored).
    box        the box, else the segmenter (steps without a box).

A box becomes the ellipse inscribed in it (the blend feathers it on paste), or, for a step that changes
an existing object (not add), SAM's mask for that box when the segmenter has a SAM. A non-empty painted
mask for the step wins over all of them. Global steps are the whole image.

    segment(image [1,H,W,3], step, box) -> (mask [H,W] or None, note)   (box: the plan's box in pixels, None
        in segmenter mode or without one; a segmenter that reads boxes, SAM 3, takes it as a prompt)
    refine_box(image [1,H,W,3], (x0, y0, x1, y1) px) -> mask [H,W] or None   (None: no SAM)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .plan import BOX_SCALE, EditStep

LOCALIZE_MODES = ("auto", "segmenter", "box")


@dataclass(frozen=True)
class Location:
    mask: torch.Tensor | None  # [H,W], 1 = edit, never empty; None when nothing was found
    source: str  # which mask: "painted mask", "box (ellipse)", "box (SAM)", "segmenter", "whole image"
    note: str = ""


def box_pixels(box, width: int, height: int) -> tuple[int, int, int, int]:
    """A 0..BOX_SCALE box as pixels (x0, y0, x1, y1), end-exclusive, at least one pixel, inside the image."""
    x0 = min(width - 1, int(box[0] * width / BOX_SCALE))
    y0 = min(height - 1, int(box[1] * height / BOX_SCALE))
    x1 = max(x0 + 1, min(width, round(box[2] * width / BOX_SCALE)))
    y1 = max(y0 + 1, min(height, round(box[3] * height / BOX_SCALE)))
    return x0, y0, x1, y1


def ellipse_mask(pixels: tuple[int, int, int, int], width: int, height: int) -> torch.Tensor:
    """[H,W] 0/1: the ellipse inscribed in the pixel box (pixel centres inside it); never outside the box."""
    x0, y0, x1, y1 = pixels
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    rx, ry = max(0.5, (x1 - x0) / 2), max(0.5, (y1 - y0) / 2)
    ys = (torch.arange(height, dtype=torch.float32) + 0.5 - cy) / ry
    xs = (torch.arange(width, dtype=torch.float32) + 0.5 - cx) / rx
    inside = (ys[:, None] ** 2 + xs[None, :] ** 2) <= 1.0
    mask = torch.zeros(height, width)
    mask[y0:y1, x0:x1] = inside[y0:y1, x0:x1].float()
    if mask.sum() == 0:  # a box of a pixel or two: its centre pixel
        mask[(y0 + y1 - 1) // 2, (x0 + x1 - 1) // 2] = 1.0
    return mask


def _found(mask) -> bool:
    return mask is not None and bool((mask > 0.5).any())


def box_location(image: torch.Tensor, step: EditStep, refine_box: Callable | None) -> Location:
    height, width = image.shape[1], image.shape[2]
    pixels = box_pixels(step.box, width, height)
    if step.action != "add" and refine_box is not None:
        refined = refine_box(image, pixels)
        if _found(refined):
            return Location(refined, "box (SAM)", f"SAM mask for the box {list(step.box)}")
    return Location(ellipse_mask(pixels, width, height), "box (ellipse)", f"ellipse in the box {list(step.box)}")


def locate(image: torch.Tensor, step: EditStep, mode: str, segment: Callable, refine_box: Callable | None = None,
           painted: torch.Tensor | None = None) -> Location:
    """The mask for `step` on the current image [1,H,W,3] (see the module docstring)."""
    if mode not in LOCALIZE_MODES:
        raise ValueError(f"localize must be one of {', '.join(LOCALIZE_MODES)}, got {mode!r}")
    height, width = image.shape[1], image.shape[2]
    if step.action == "global":
        return Location(torch.ones(height, width), "whole image", "global step: the whole image")
    if _found(painted):
        return Location(painted, "painted mask", "the step's mask from the masks input")
    has_box = step.box is not None and mode != "segmenter"
    if has_box and (mode == "box" or step.action == "add"):
        return box_location(image, step, refine_box)
    mask, note = segment(image, step, box_pixels(step.box, width, height) if has_box else None)
    if _found(mask):
        return Location(mask, "segmenter", note)
    if has_box:
        fallback = box_location(image, step, refine_box)
        why = f"the segmenter found nothing ({note})" if note else "the segmenter found nothing"
        return Location(fallback.mask, fallback.source, f"{why}; {fallback.note}")
    return Location(None, "segmenter", note)
