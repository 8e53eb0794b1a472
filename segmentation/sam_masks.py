"""Mask finishing for segmentation output: grow/shrink, feather, union, and a red preview overlay."""

import torch
import torch.nn.functional as F

from ..restoration.masked_filters import dilate, gaussian_kernel

OVERLAY_COLOR = (1.0, 0.0, 0.0)
OVERLAY_ALPHA = 0.5  # LISA's chat.py preview: 50% red over the mask


def grow(masks: torch.Tensor, pixels: int) -> torch.Tensor:
    """[N, H, W] 0..1: dilate by `pixels` (square neighbourhood), or erode when negative."""
    if pixels == 0 or masks.numel() == 0:
        return masks
    if pixels > 0:
        return dilate(masks, pixels)
    return 1 - dilate(1 - masks, -pixels)  # erode; beyond the border counts as mask, so it is not eaten


def feather(masks: torch.Tensor, pixels: int) -> torch.Tensor:
    """Soften edges with a separable Gaussian of radius `pixels` (values stay in 0..1)."""
    if pixels <= 0 or masks.numel() == 0:
        return masks
    kernel = gaussian_kernel(max(pixels / 2.0, 0.5), radius=pixels)
    x = masks.unsqueeze(1)
    x = F.conv2d(F.pad(x, (pixels, pixels, 0, 0), mode="replicate"), kernel.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, pixels, pixels), mode="replicate"), kernel.view(1, 1, -1, 1))
    return x.squeeze(1).clamp(0, 1)


def union(masks: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """[N, H, W] -> [H, W]: any instance; all zeros when there are none."""
    if masks.shape[0] == 0:
        return torch.zeros(height, width)
    return masks.amax(dim=0)


def overlay(image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """image [H, W, 3] 0..1, mask [H, W] 0..1 -> the image with the mask tinted red."""
    color = torch.tensor(OVERLAY_COLOR, dtype=image.dtype)
    weight = (mask.to(image.dtype) * OVERLAY_ALPHA).unsqueeze(-1)
    return image * (1 - weight) + color * weight
