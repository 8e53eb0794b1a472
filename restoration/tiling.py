"""Overlapping tiles and feathered blending, so memory depends on the tile size, not the image size."""

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tile:
    top: int
    left: int
    height: int
    width: int

    def slices(self) -> tuple[slice, slice]:
        return slice(self.top, self.top + self.height), slice(self.left, self.left + self.width)


def _spans(length: int, tile: int, overlap: int, align: int) -> list[tuple[int, int]]:
    """(start, length) per tile along one axis: the fewest tiles of at most ``tile`` px (about: sizes are
    rounded up to ``align``) overlapping by about ``overlap``, spread evenly so none is mostly overlap."""
    if tile <= 0 or length <= tile:
        return [(0, length)]
    overlap = min(overlap, tile - align)
    count = math.ceil((length - overlap) / (tile - overlap))
    size = min(length, math.ceil((length + (count - 1) * overlap) / count / align) * align)
    # starts aligned so LQ crops stay integral at every scale; the last tile runs to the edge
    starts = [min(round(i * (length - size) / (count - 1) / align) * align, length - size) // align * align
              for i in range(count)]
    return [(start, length - start if i == count - 1 else size) for i, start in enumerate(starts)]


def plan_tiles(height: int, width: int, tile: int, overlap: int, align: int = 32) -> list[Tile]:
    """Tiles of about ``tile`` px covering the image, starts aligned to ``align``; tile <= 0: one tile."""
    return [Tile(top, left, tile_h, tile_w)
            for top, tile_h in _spans(height, tile, overlap, align)
            for left, tile_w in _spans(width, tile, overlap, align)]


def feather_weight(tile: Tile, height: int, width: int, overlap: int) -> torch.Tensor:
    """[h, w] weights ramping up over ``overlap`` px on edges shared with other tiles (1 on image borders)."""

    def ramp(length: int, start: int, full: int) -> torch.Tensor:
        weight = torch.ones(length)
        if overlap <= 0:
            return weight
        ramp_up = torch.linspace(0.0, 1.0, overlap + 2)[1:-1]  # never exactly 0: every pixel is covered
        n = min(overlap, length)
        if start > 0:
            weight[:n] = torch.minimum(weight[:n], ramp_up[:n])
        if start + length < full:
            weight[-n:] = torch.minimum(weight[-n:], ramp_up[:n].flip(0))
        return weight

    return ramp(tile.height, tile.top, height)[:, None] * ramp(tile.width, tile.left, width)[None, :]


def tile_for_budget(height: int, width: int, budget_bytes: float, bytes_per_pixel: float, overlap: int,
                    align: int = 32, smallest: int = 128) -> int:
    """0 (one pass over the whole image) when its activations fit in ``budget_bytes``; otherwise the
    largest square tile side (a multiple of ``align``, at least ``smallest`` and above ``overlap``) that fits."""
    if height * width * bytes_per_pixel <= budget_bytes:
        return 0
    side = int((max(budget_bytes, 0.0) / bytes_per_pixel) ** 0.5) // align * align
    return max(side, smallest, (overlap // align + 1) * align)


def halve_tile(tile: int, height: int, width: int, overlap: int, align: int = 32, smallest: int = 128) -> int | None:
    """The tile side to retry with after running out of memory at ``tile`` (0: the whole image in one pass):
    half of it (of the longer image side for 0), a multiple of ``align``; None when that would be below
    ``smallest`` or not above ``overlap``, i.e. when tiling smaller cannot help."""
    side = (tile or max(height, width)) // 2 // align * align
    if side < smallest or side <= overlap:
        return None
    return side
