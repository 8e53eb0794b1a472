"""Filters that use only the pixels a weight map allows (normalised convolution), and pyramids.

All take [N,C,H,W] float tensors; weights are [N,1,H,W] in [0, 1]. Where the weight is 0 a value is
never read, so zero-filled or garbage pixels cannot leak into statistics.
"""

import math

import torch
import torch.nn.functional as F


def gaussian_kernel(sigma: float, radius: int | None = None, dtype=torch.float32) -> torch.Tensor:
    """Normalised 1-D Gaussian of 2 * radius + 1 taps (radius: 3 sigma, at least 1, unless given)."""
    radius = max(1, math.ceil(3 * sigma)) if radius is None else radius
    x = torch.arange(-radius, radius + 1, dtype=dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _blur_direct(x: torch.Tensor, sigma: float) -> torch.Tensor:
    k = gaussian_kernel(sigma, dtype=x.dtype).to(x.device)
    r = k.numel() // 2
    channels = x.shape[1]
    mode = "reflect" if r < min(x.shape[-2:]) else "replicate"
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode=mode), k.view(1, 1, 1, -1).repeat(channels, 1, 1, 1),
                 groups=channels)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode=mode), k.view(1, 1, -1, 1).repeat(channels, 1, 1, 1),
                    groups=channels)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian; wide ones run on a downsampled copy (cost stays flat as sigma grows)."""
    if sigma <= 0:
        return x
    factor = 2 ** max(0, int(math.log2(sigma / 2)))
    if factor == 1 or min(x.shape[-2:]) < 4 * factor:
        return _blur_direct(x, sigma)
    small = F.avg_pool2d(x, factor, ceil_mode=True)
    small = _blur_direct(small, math.sqrt(max(sigma**2 / factor**2 - 0.25, 0.25)))
    return F.interpolate(small, size=x.shape[-2:], mode="bilinear", align_corners=False)


def masked_blur(x: torch.Tensor, weight: torch.Tensor, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(weighted local mean, local weight density). The mean is 0 where no weighted pixel is near."""
    density = gaussian_blur(weight, sigma)
    mean = gaussian_blur(x * weight, sigma) / density.clamp_min(1e-6)
    return torch.where(density > 1e-4, mean, torch.zeros_like(mean)), density


def dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """Square dilation by ``radius`` px (separable max-pool) of a [..., H, W] mask; a boolean mask stays
    boolean, a float one stays float (grey values are max-filtered). Beyond the border counts as empty."""
    if radius <= 0:
        return mask
    x = mask.float().reshape(-1, 1, *mask.shape[-2:])
    size = 2 * radius + 1
    x = F.max_pool2d(x, (1, size), stride=1, padding=(0, radius))
    x = F.max_pool2d(x, (size, 1), stride=1, padding=(radius, 0)).reshape(mask.shape)
    return x > 0.5 if mask.dtype == torch.bool else x.to(mask.dtype)


def _down(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 2, ceil_mode=True)


def _up(x: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def push_pull_fill(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Fill pixels of low weight with a smooth interpolation of the weighted ones (push-pull)."""
    sums, weights = [x * weight], [weight]
    while min(sums[-1].shape[-2:]) > 1:
        sums.append(_down(sums[-1]))
        weights.append(_down(weights[-1]))
    filled = sums[-1] / weights[-1].clamp_min(1e-6)
    for level_sum, level_weight in zip(reversed(sums[:-1]), reversed(weights[:-1])):
        coarse = _up(filled, level_sum.shape[-2:])
        # level_sum is the mean of x*w over the block: weight w of the data, (1 - w) of the coarse guess
        filled = level_sum + (1 - level_weight.clamp(0, 1)) * coarse
    return filled


def laplacian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    bands, current = [], x
    for _ in range(levels):
        smaller = _down(gaussian_blur(current, 1.0))
        bands.append(current - _up(smaller, current.shape[-2:]))
        current = smaller
    return bands + [current]


def gaussian_pyramid(x: torch.Tensor, levels: int) -> list[torch.Tensor]:
    out = [x]
    for _ in range(levels):
        out.append(_down(gaussian_blur(out[-1], 1.0)))
    return out


def collapse(bands: list[torch.Tensor]) -> torch.Tensor:
    current = bands[-1]
    for band in reversed(bands[:-1]):
        current = band + _up(current, band.shape[-2:])
    return current
