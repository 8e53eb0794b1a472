"""Crop-and-stitch geometry for inpainting one masked region of a (possibly huge) image.

A region is edited in a window around its mask, resized to the model's working resolution, and pasted
back through a feathered copy of the grown mask. Pixels where that blend weight is 0 are never written,
so everything farther than grow + feather from the mask stays bit-identical. Only the window is ever
sliced out, resized or written: a large canvas can stay on the CPU.

Tensors follow ComfyUI's layout (IMAGE [B,H,W,C] float 0..1, MASK [H,W] 1 = change) without importing it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..restoration.masked_filters import dilate


@dataclass(frozen=True)
class CropWindow:
    """A crop box in image pixels (end-exclusive) and the working size it is resized to."""

    x0: int
    y0: int
    x1: int
    y1: int
    work_width: int
    work_height: int

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)


@dataclass(frozen=True)
class RegionPlan:
    """Where to inpaint and how to paste back: the window, and at window (full) resolution the grown
    mask (what the model regenerates) and the blend weight (grown mask with an outward feather)."""

    window: CropWindow
    grown: torch.Tensor  # [h, w] float 0/1
    blend: torch.Tensor  # [h, w] float 0..1, 0 exactly outside grown + feather

    @property
    def area_fraction(self) -> float:
        return float(self.grown.sum()) / max(1, self.grown.numel())


def mask_bbox(mask: torch.Tensor, threshold: float = 0.5) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) end-exclusive of mask > threshold in a [H,W] mask, or None when it is empty."""
    hit = mask > threshold
    rows, cols = hit.any(dim=1).nonzero(), hit.any(dim=0).nonzero()
    if rows.numel() == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def round_to(value: float, multiple: int) -> int:
    return max(multiple, int(round(value / multiple)) * multiple)


def working_size(width: int, height: int, resolution: int, multiple: int = 8) -> tuple[int, int]:
    """Working size for a crop: its longer side scaled to `resolution`, both sides multiples of `multiple`."""
    scale = resolution / max(width, height)
    return round_to(width * scale, multiple), round_to(height * scale, multiple)


def choose_window(bbox: tuple[int, int, int, int], image_size: tuple[int, int], margin: int,
                  resolution: int, multiple: int = 8) -> CropWindow:
    """A window around `bbox` padded by `margin` px, clamped to the image (width, height). The working
    size keeps the window's aspect ratio up to the rounding to `multiple`."""
    width, height = image_size
    x0, y0, x1, y1 = bbox
    x0, y0 = max(0, x0 - margin), max(0, y0 - margin)
    x1, y1 = min(width, x1 + margin), min(height, y1 + margin)
    work_w, work_h = working_size(x1 - x0, y1 - y0, resolution, multiple)
    return CropWindow(x0, y0, x1, y1, work_w, work_h)


def grow_mask(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """Binary mask (> 0.5) dilated by `pixels` (square neighbourhood)."""
    return dilate((mask > 0.5).float(), pixels)


def feather_outward(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """1 inside the binary mask, falling linearly to 0 over `pixels` px outside it, exactly 0 beyond.
    The mean of the mask dilated by 0..pixels px: at distance d it is (pixels - d + 1) / (pixels + 1)."""
    if pixels <= 0:
        return mask.clone()
    total = mask.clone()
    grown = mask
    for _ in range(pixels):
        grown = dilate(grown, 1)
        total += grown
    return total / (pixels + 1)


def plan_region(mask: torch.Tensor, grow_px: int, feather_px: int, context_px: int, resolution: int,
                multiple: int = 8, window: CropWindow | None = None) -> RegionPlan | None:
    """Plan the inpainting of mask [H,W] (1 = change), or None when the mask is empty.

    The window holds the mask's bounding box plus grow + feather + context px on every side (clamped to
    the image), so the blend weight never reaches the window's border inside the image. Pass `window`
    to use a window of your own (its blend is then cut at the window border)."""
    if mask.dim() == 3:
        mask = mask[0]
    bbox = mask_bbox(mask)
    if bbox is None:
        return None
    if window is None:
        height, width = mask.shape
        window = choose_window(bbox, (width, height), grow_px + feather_px + context_px, resolution, multiple)
    local = mask[window.slices].float().cpu()
    grown = grow_mask(local, grow_px)
    return RegionPlan(window, grown, feather_outward(grown, feather_px))


def resize_image(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """IMAGE [B,H,W,C] -> [B,height,width,C], antialiased when shrinking, clamped to 0..1."""
    if image.shape[1] == height and image.shape[2] == width:
        return image
    moved = image.movedim(-1, 1).float()
    out = F.interpolate(moved, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return out.movedim(1, -1).clamp(0, 1)


def resize_mask(mask: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """MASK [H,W] or [B,H,W] -> [B,height,width] (bilinear, clamped)."""
    batched = mask if mask.dim() == 3 else mask[None]
    if batched.shape[-2:] == (height, width):
        return batched.float()
    out = F.interpolate(batched[:, None].float(), size=(height, width), mode="bilinear", align_corners=False,
                        antialias=True)
    return out[:, 0].clamp(0, 1)


def crop_for_work(image: torch.Tensor, plan: RegionPlan) -> tuple[torch.Tensor, torch.Tensor]:
    """The window of IMAGE [B,H,W,C] and its grown mask, both at the working size:
    ([B,h,w,C] float32, [1,h,w] float32 1 = regenerate)."""
    w = plan.window
    rows, cols = w.slices
    crop = resize_image(image[:, rows, cols, :].float(), w.work_width, w.work_height)
    return crop, resize_mask(plan.grown, w.work_width, w.work_height)


def stitch(image: torch.Tensor, plan: RegionPlan, result: torch.Tensor, in_place: bool = False) -> torch.Tensor:
    """Paste `result` (the window at working size, [B,h,w,C] or [1,h,w,C]) back into IMAGE [B,H,W,C]
    through the blend weight. Only pixels with weight > 0 are written, so the rest stay bit-identical.
    in_place=True writes into `image` itself (a large canvas is never copied)."""
    w = plan.window
    rows, cols = w.slices
    target = image if in_place else image.clone()
    original = target[:, rows, cols, :]
    channels = original.shape[-1]
    pasted = resize_image(result.to(original.device).float()[..., :channels], w.width, w.height)
    weight = plan.blend.to(original.device)[None, :, :, None]
    blended = (pasted * weight + original.float() * (1 - weight)).to(original.dtype)
    target[:, rows, cols, :] = torch.where(weight > 0, blended, original)
    return target
