"""One tile's window: where it sits, what in it is known, how its unknown part starts, how it is pasted.

The canvas is an IMAGE item [H, W, 3] float32 in CPU memory, plus the MASK [H, W] (1 = generated so
far). Only window-sized copies are ever made, so memory stays flat in canvas size.
"""

from dataclasses import dataclass

import torch

from ..editing import region as crop
from ..restoration.harmonize import harmonize_seams
from ..restoration.masked_filters import gaussian_blur, push_pull_fill
from .plan import CanvasPlan, Rect

FILLS = ("mirror_blur", "noise")
# 2407.12642's baseline recipe blurs its mirrored init with radius 7 (PIL GaussianBlur radius = sigma)
MIRROR_BLUR_SIGMA = 7.0


def _axis_window(start: int, size: int, src_start: int, src_end: int, window: int, limit: int) -> tuple[int, int]:
    window = min(window, limit)
    if start + size <= src_start:  # before the source on this axis: context lies after the tile
        begin = start
    elif start >= src_end:  # after the source: context lies before it
        begin = start + size - window
    else:  # level with the source: centred, context on both sides
        begin = start + size // 2 - window // 2
    return max(0, min(begin, limit - window)), window


def window_rect(plan: CanvasPlan, tile: Rect, tile_size: int) -> Rect:
    """A tile_size square (clipped to the canvas) holding the tile at its outer end, so the rest of it is
    context on the source's side; level with the source it is centred on the tile."""
    src = plan.source
    x, w = _axis_window(tile.x, tile.width, src.x, src.right, tile_size, plan.width)
    y, h = _axis_window(tile.y, tile.height, src.y, src.bottom, tile_size, plan.height)
    return Rect(x, y, w, h)


def known_in_window(plan: CanvasPlan, generated: torch.Tensor, window: Rect) -> torch.Tensor:
    """[h, w] bool: source pixels and pixels generated so far (generated = the canvas MASK [H, W])."""
    known = generated[window.y:window.bottom, window.x:window.right] > 0
    return known | source_in_window(plan, window)


def source_in_window(plan: CanvasPlan, window: Rect) -> torch.Tensor:
    inside = torch.zeros(window.height, window.width, dtype=torch.bool)
    src = plan.source
    x0, x1 = max(src.x, window.x) - window.x, min(src.right, window.right) - window.x
    y0, y1 = max(src.y, window.y) - window.y, min(src.bottom, window.bottom) - window.y
    if x1 > x0 and y1 > y0:
        inside[y0:y1, x0:x1] = True
    return inside


def _to_left(x: torch.Tensor, direction: str) -> torch.Tensor:
    """View [..., h, w] so that the image grows towards smaller column indices."""
    if direction in ("up", "down"):
        x = x.transpose(-1, -2)
    return x.flip(-1) if direction in ("right", "down") else x


def _from_left(x: torch.Tensor, direction: str) -> torch.Tensor:
    x = x.flip(-1) if direction in ("right", "down") else x
    return x.transpose(-1, -2) if direction in ("up", "down") else x


def mirror_fill(pixels: torch.Tensor, known: torch.Tensor, direction: str) -> torch.Tensor:
    """[3, h, w]: each unknown pixel takes the known pixel mirrored across the nearest known edge in its
    row along the growth direction; what no mirror reaches is filled smoothly (push-pull)."""
    img, mask = _to_left(pixels, direction), _to_left(known, direction)
    width = mask.shape[-1]
    cols = torch.arange(width).expand_as(mask)
    # first known column at or right of each pixel (width where none)
    first_known = torch.where(mask, cols, torch.full_like(cols, width)).flip(-1).cummin(-1).values.flip(-1)
    mirrored = 2 * first_known - 1 - cols
    valid = ~mask & (first_known < width) & (mirrored < width)
    source = mirrored.clamp(0, width - 1)
    valid &= torch.gather(mask, -1, source)
    out = torch.where(mask.unsqueeze(0), img, torch.gather(img, -1, source.unsqueeze(0).expand_as(img)))
    have = mask | valid
    out = torch.where(have.unsqueeze(0), out, torch.zeros_like(out))
    smooth = push_pull_fill(out[None], have[None, None].float())[0]
    out = torch.where(have.unsqueeze(0), out, smooth)
    return _from_left(out, direction).contiguous()


def fill_unknown(pixels: torch.Tensor, known: torch.Tensor, direction: str, method: str = "mirror_blur",
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """Initial content of the unknown pixels of a window [3, h, w]; known pixels are returned unchanged."""
    if method == "mirror_blur":
        guess = gaussian_blur(mirror_fill(pixels, known, direction)[None], MIRROR_BLUR_SIGMA)[0]
    elif method == "noise":
        guess = torch.rand(pixels.shape, generator=generator, dtype=pixels.dtype)
    else:
        raise ValueError(f"fill must be one of {FILLS}, got {method!r}")
    return torch.where(known.unsqueeze(0), pixels, guess.clamp(0, 1))


@dataclass
class TileWindow:
    window: Rect
    pixels: torch.Tensor  # [3, h, w]: known pixels, the unknown ones filled
    known: torch.Tensor  # [h, w] bool
    sample_mask: torch.Tensor  # [h, w] float: 1 = the model generates it (unknown + feather band)
    paste_weight: torch.Tensor  # [h, w] float: share of the decoded window pasted into the canvas


def paste_weight(window: Rect, tile: Rect, known: torch.Tensor, source: torch.Tensor, feather_px: int) -> torch.Tensor:
    """1 on the tile; over feather_px of earlier tiles around it a ramp down to 0; 0 on the source and on
    pixels later tiles will generate."""
    inside = torch.zeros(window.height, window.width)
    tx, ty = tile.x - window.x, tile.y - window.y
    inside[ty:ty + tile.height, tx:tx + tile.width] = 1.0
    may_change = (inside > 0) | (known & ~source)
    return crop.feather_outward(inside, feather_px) * may_change


def prepare_window(plan: CanvasPlan, canvas: torch.Tensor, generated: torch.Tensor, tile_index: int,
                   tile_size: int, feather_px: int, fill: str = "mirror_blur",
                   generator: torch.Generator | None = None) -> TileWindow:
    """canvas [H, W, 3] and generated [H, W] are the live buffers; only the window is copied."""
    tile = plan.tiles[tile_index]
    window = window_rect(plan, tile.rect, tile_size)
    pixels = canvas[window.y:window.bottom, window.x:window.right].permute(2, 0, 1).float().clone()
    known = known_in_window(plan, generated, window)
    source = source_in_window(plan, window)
    weight = paste_weight(window, tile.rect, known, source, feather_px)
    sample_mask = (~known | (weight > 0)).float()
    filled = fill_unknown(pixels, known, tile.direction, fill, generator)
    return TileWindow(window, filled, known, sample_mask, weight)


def work_inputs(prepared: TileWindow, multiple: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """(IMAGE [1, h', w', 3], MASK [1, h', w']) for the sampler: the window with sides rounded to
    ``multiple`` (unchanged when they already are, as with every window inside a large canvas)."""
    height, width = prepared.pixels.shape[-2:]
    work_w, work_h = crop.round_to(width, multiple), crop.round_to(height, multiple)
    image = crop.resize_image(prepared.pixels.permute(1, 2, 0)[None], work_w, work_h)
    return image, crop.resize_mask(prepared.sample_mask, work_w, work_h)


def paste_tile(canvas: torch.Tensor, generated: torch.Tensor, plan: CanvasPlan, tile_index: int,
               prepared: TileWindow, decoded: torch.Tensor, harmonize: bool = True) -> None:
    """Write a decoded window (IMAGE [1, h', w', 3], any size: resized to the window) into the canvas
    [H, W, 3] in place: the tile, plus the feather band blended over earlier tiles, after matching its
    seams to the known pixels when ``harmonize``. The source and later tiles' pixels are never written."""
    win, tile = prepared.window, plan.tiles[tile_index].rect
    decoded = crop.resize_image(decoded[..., :3].float().cpu(), win.width, win.height)[0].permute(2, 0, 1)
    weight = prepared.paste_weight
    if harmonize:
        keep = prepared.known & (weight == 0)
        if bool(keep.any()):
            current = canvas[win.y:win.bottom, win.x:win.right].permute(2, 0, 1).float()
            decoded = harmonize_seams(decoded[None], torch.where(keep, current, decoded)[None],
                                      (~keep).float()[None, None])[0]
    region = crop.RegionPlan(crop.CropWindow(win.x, win.y, win.right, win.bottom, win.width, win.height),
                        prepared.sample_mask, weight)
    crop.stitch(canvas[None], region, decoded.permute(1, 2, 0)[None], in_place=True)
    generated[tile.y:tile.bottom, tile.x:tile.right] = 1.0
