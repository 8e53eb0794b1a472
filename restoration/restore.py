"""Restore generated regions with DiffRIR: tiled, seeded, and composited onto the reference."""

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .diffrir import DiffRIRS2, pack_padded, run_padded
from .tiling import Tile, feather_weight, plan_tiles


def check_inputs(model: DiffRIRS2, image: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> None:
    if image.dim() != 4 or image.shape[1] != 3 or reference.dim() != 4 or reference.shape[1] != 3:
        raise ValueError("image and reference must be [B,3,H,W]")
    if mask.shape != (reference.shape[0], 1, *reference.shape[-2:]):
        raise ValueError(f"mask must be [B,1,H,W] at the reference size, got {tuple(mask.shape)}")
    scale = model.scale
    expected = (-(-reference.shape[-2] // scale), -(-reference.shape[-1] // scale))
    if tuple(image.shape[-2:]) != expected or image.shape[0] != reference.shape[0]:
        raise ValueError(f"for x{scale} the image must be [B,3,{expected[0]},{expected[1]}] "
                         f"(reference / {scale}), got {tuple(image.shape)}")


# Peak activations of one pass, in live copies of the widest tensor: the GDFN expansion (2 x hidden
# channels of the 2*dim stages, at 1/16 of the output pixels). 10 matches the CPU peak measured with
# bench/restore.py at the released size in fp32 (~1.4 kB per output pixel between 256 and 512 px).
_LIVE_EXPANSIONS = 10


def activation_bytes_per_pixel(model: DiffRIRS2) -> float:
    """Estimated peak working memory of restoring one output pixel in a single pass (tile or image)."""
    config = model.config
    element = next(model.parameters()).element_size()
    return config.ffn_hidden[config.dim * 2] * 2 * _LIVE_EXPANSIONS * element / 16


def tiles_needing_work(tiles: list[Tile], changed: torch.Tensor) -> list[Tile]:
    """Tiles that contain generated pixels; the others would be replaced by the reference anyway."""
    return [t for t in tiles if bool(changed[..., t.slices()[0], t.slices()[1]].any())]


def whole_image_prior(model: DiffRIRS2, image: torch.Tensor, reference: torch.Tensor, hole: torch.Tensor,
                      noise: torch.Tensor, tile: int = 0) -> torch.Tensor:
    """The prior DiffRIR computes for the whole (padded) image: CPEN pools over all of it. With ``tile``
    (HR px) > 0 its features are computed tile by tile with a margin, giving the same vector in memory
    bounded by the tile. Inputs may be on the CPU; the result is on the model's device."""
    parameter = next(model.parameters())
    packed = pack_padded(model, image.float(), reference.float(), hole.float())
    # the network runs at 1/4 of the output side at every scale
    condition = model.condition.pooled_in_tiles(model.features(packed), tile // 4, parameter.device,
                                                parameter.dtype)
    return model.diffusion.sample_from_condition(condition, noise)


def restore_image(model: DiffRIRS2, image: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor,
                  seed: int, tile: int = 0, overlap: int = 64,
                  on_tile: Callable[[], None] | None = None) -> torch.Tensor:
    """One image: image [1,3,h,w] (generated / LQ), reference and mask at S*h x S*w, mask 1 = generated.

    Returns [1,3,H,W] float32 on the CPU: network output where mask > 0 blended by the mask,
    the reference bit-identical where mask == 0. ``tile`` and ``overlap`` are HR pixels (0: no tiling);
    every tile is modulated by the whole image's prior, as in a single pass.
    """
    check_inputs(model, image, reference, mask)
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    scale = model.scale
    height, width = reference.shape[-2:]
    hole = (mask > 0.5).to(reference.dtype)  # DiffRIR binarises its mask at 0.5
    tiles = tiles_needing_work(plan_tiles(height, width, tile, overlap), mask > 0)
    accumulated = torch.zeros(3, height, width)
    weights = torch.zeros(1, height, width)
    with torch.inference_mode():
        prior = whole_image_prior(model, image, reference, hole, model.prior_noise(1, seed), tile) if tiles else None
    for t in tiles:
        rows, cols = t.slices()
        lq_rows = slice(rows.start // scale, -(-rows.stop // scale))
        lq_cols = slice(cols.start // scale, -(-cols.stop // scale))
        with torch.inference_mode():
            out = run_padded(model, image[..., lq_rows, lq_cols].to(device, dtype),
                             reference[..., rows, cols].to(device, dtype), hole[..., rows, cols].to(device, dtype),
                             prior=prior)
        weight = feather_weight(t, height, width, overlap)
        accumulated[:, rows, cols] += out[0].float().cpu() * weight
        weights[:, rows, cols] += weight
        if on_tile is not None:
            on_tile()
    restored = accumulated / weights.clamp_min(1e-8)
    return composite(restored.unsqueeze(0), reference, mask)


def composite(restored: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """out*mask + reference*(1-mask), with the reference copied exactly where mask == 0."""
    mask = mask.to(restored.dtype)
    blended = restored.clamp(0, 1) * mask + reference.to(restored.dtype) * (1 - mask)
    return torch.where(mask > 0, blended, reference.to(restored.dtype))


def count_tiles(mask: torch.Tensor, tile: int, overlap: int) -> int:
    """How many tiles restore_image will run for this mask (for progress bars)."""
    height, width = mask.shape[-2:]
    return len(tiles_needing_work(plan_tiles(height, width, tile, overlap), mask > 0))


def resize_to(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    if tuple(image.shape[-2:]) == (height, width):
        return image
    return F.interpolate(image, size=(height, width), mode="bicubic", align_corners=False,
                         antialias=True).clamp(0, 1)
