"""Weight-free seam harmonisation: make a generated region agree with the preserved pixels around it.

Steps, per image (mask > 0 = generated, mask == 0 = preserved):
1. Local means on both sides of the seam from narrow rings (``stat_width`` px; normalised
   convolution, the preserved side from preserved pixels only).
2. A per-channel gain/offset fitted on those seam pairs (ridge towards gain 1): contrast and colour.
3. The remaining low-frequency step along the seam, interpolated into the region and faded with
   distance from the seam: spatially varying brightness.
4. Detail gain: the generated high-frequency band scaled towards the preserved side's (bounded).
5. A multi-band (Laplacian pyramid) blend with a smooth continuation of the preserved pixels, so low
   frequencies cross the seam over a wide band and fine detail over a narrow one.
Preserved pixels are copied from the reference bit for bit; the reference is never read inside the mask.
"""

import logging
import math
from dataclasses import dataclass

import torch

from .masked_filters import (
    collapse,
    dilate,
    gaussian_blur,
    gaussian_pyramid,
    laplacian_pyramid,
    masked_blur,
    push_pull_fill,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HarmonizeSettings:
    seam_width: int = 0  # px of the blend band; 0 = 1/64 of the short side, clamped to 8..32
    gain_limits: tuple[float, float] = (0.8, 1.25)
    gain_shrink: float = 0.7  # how far the fitted gain moves from 1 (the seam sample is small)
    max_offset: float = 0.1
    residual: bool = True
    detail: bool = True
    blend: bool = True
    blend_strength: float = 1.0  # 1: classic multi-band blend; lower keeps more generated low frequencies
    detail_limits: tuple[float, float] = (0.75, 1.33)
    # width of the rings the seam statistics come from: narrow, because pixels a few px apart across
    # the seam show nearly the same content, so their difference is mostly the colour error
    stat_width: int = 2


def auto_seam_width(height: int, width: int) -> int:
    return int(min(32, max(8, round(min(height, width) / 64))))


def fit_gain_offset(generated: torch.Tensor, preserved: torch.Tensor, shrink: float,
                    limits: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per channel gain and offset mapping generated seam means [C, n] onto preserved ones [C, n].

    The two sides are different pixels, so their difference mixes content with the colour error: an
    ordinary least-squares slope is biased towards 0 by that scatter. The gain is the ratio of robust
    spreads (symmetric in both sides), shrunk towards 1; the offset is the median remaining difference.
    """

    def spread(x: torch.Tensor) -> torch.Tensor:
        q = torch.quantile(x, torch.tensor([0.25, 0.75], dtype=x.dtype), dim=1)
        return q[1] - q[0]

    ratio = spread(preserved) / spread(generated).clamp_min(1e-4)
    gain = (1 + shrink * (ratio - 1)).clamp(*limits)
    offset = (preserved - gain[:, None] * generated).median(dim=1).values
    return gain, offset


def _seam_pairs(image, ref_safe, keep, generated, band):
    """Local means of each side at pixels on the seam (both sides present within the band)."""
    sigma = max(1.0, band / 2)
    ring_out = (dilate(generated, band) & keep).float()
    ring_in = (dilate(keep, band) & generated).float()
    side_p, density_p = masked_blur(ref_safe, ring_out, sigma)
    side_g, density_g = masked_blur(image, ring_in, sigma)
    seam = dilate(keep, 1) & dilate(generated, 1) & (density_p > 0.05) & (density_g > 0.05)
    return side_g, side_p, seam


def harmonize_one(image: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor,
                  settings: HarmonizeSettings = HarmonizeSettings()) -> torch.Tensor:
    """image/reference [1,3,H,W], mask [1,1,H,W] -> [1,3,H,W] float32."""
    keep = mask <= 0
    generated = ~keep
    # the reference is only ever read through ref_safe, which is zero inside the mask
    ref_safe = torch.where(keep, reference, torch.zeros_like(reference))
    if not bool(generated.any()):
        return reference.clone()
    if not bool(keep.any()):
        log.warning("HarmonizeSeams: the mask covers the whole image; nothing preserved to match, "
                    "returning the image unchanged")
        return image.clone()
    band = settings.seam_width or auto_seam_width(*image.shape[-2:])
    side_g, side_p, seam = _seam_pairs(image, ref_safe, keep, generated, settings.stat_width)
    seam_index = seam[0, 0]
    if int(seam_index.sum()) < 4:
        return torch.where(keep, reference, image)

    # 2. global gain/offset per channel from the seam pairs
    gain, offset = fit_gain_offset(side_g[0][:, seam_index], side_p[0][:, seam_index], settings.gain_shrink,
                                   settings.gain_limits)
    corrected = image * gain.view(1, -1, 1, 1) + offset.view(1, -1, 1, 1)

    # 3. residual low-frequency step, spread inwards and faded with distance from the seam
    if settings.residual:
        step = (side_p - (side_g * gain.view(1, -1, 1, 1) + offset.view(1, -1, 1, 1)))
        step = step.clamp(-settings.max_offset, settings.max_offset)
        # averaged along the seam over 2 bands: content differences cancel, systematic shifts stay
        step, density = masked_blur(step, seam.float(), 2.0 * band)
        spread = push_pull_fill(step, (density > 1e-3).float())
        closeness = (2 * gaussian_blur(keep.float(), 2.0 * band)).clamp(0, 1)
        corrected = corrected + spread * closeness

    # 4. detail gain: compare the high-frequency energy just inside and just outside the seam
    if settings.detail:
        corrected = _match_detail(corrected, ref_safe, keep, generated, band, settings.detail_limits)
    if not settings.blend:
        return torch.where(keep, reference, corrected.clamp(0, 1))

    # 5. multi-band blend with a smooth continuation of the preserved side
    continued = push_pull_fill(ref_safe, keep.float())
    outside = torch.where(keep, ref_safe, corrected)
    levels = max(1, min(6, math.ceil(math.log2(band))))
    bands_gen = laplacian_pyramid(outside, levels)
    bands_ref = laplacian_pyramid(continued, levels)
    # weight of the generated side per level: the hole at fine levels, blurred across the seam at coarse
    weights = gaussian_pyramid(generated.float(), levels)
    weights = [1 - (1 - w) * settings.blend_strength for w in weights]
    weights[0] = generated.float()
    blended = collapse([w * g + (1 - w) * r for w, g, r in zip(weights, bands_gen, bands_ref)])
    return torch.where(keep, reference, blended.clamp(0, 1))


def _match_detail(corrected, ref_safe, keep, generated, band, limits):
    narrow = max(2, band // 2)
    ring_out = dilate(generated, narrow) & keep
    ring_in = dilate(keep, narrow) & generated
    detail_p = ref_safe - masked_blur(ref_safe, keep.float(), 1.5)[0]
    detail_g = corrected - masked_blur(corrected, generated.float(), 1.5)[0]
    energy_p = detail_p.pow(2).sum(1, keepdim=True)[ring_out].mean()
    energy_g = detail_g.pow(2).sum(1, keepdim=True)[ring_in].mean()
    if not bool(ring_out.any()) or float(energy_g) < 1e-8:
        return corrected
    ratio = float(torch.sqrt(energy_p / energy_g).clamp(*limits))
    return corrected + (ratio - 1.0) * detail_g * generated


def harmonize_seams(image: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor,
                    settings: HarmonizeSettings = HarmonizeSettings(),
                    on_item=None) -> torch.Tensor:
    """Batched: image/reference [B,3,H,W] (reference batch 1 is shared), mask [B,1,H,W] -> [B,3,H,W]."""
    if reference.shape[-2:] != image.shape[-2:] or mask.shape[-2:] != image.shape[-2:]:
        raise ValueError(f"image {tuple(image.shape[-2:])}, reference {tuple(reference.shape[-2:])} and "
                         f"mask {tuple(mask.shape[-2:])} must have the same size")
    outputs = []
    for index in range(image.shape[0]):
        ref = reference[index if reference.shape[0] > 1 else 0][None].float()
        item_mask = mask[index if mask.shape[0] > 1 else 0][None].float()
        outputs.append(harmonize_one(image[index][None].float(), ref, item_mask, settings))
        if on_item is not None:
            on_item()
    return torch.cat(outputs)
