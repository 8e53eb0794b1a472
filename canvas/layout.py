"""Tile layout and generation order (our design; 2407.12642 publishes none).

The model sees one square window of ``tile_size`` px per tile; ``overlap`` px of it is known context,
so each tile generates at most ``tile_size - overlap`` px along each axis. The band left of the source
is cut into columns (outward) and the source's height into rows (near-equal sizes, so no sliver
tiles), likewise on the other sides; the corners take the columns of their side band and the rows of
theirs. Order: ring by ring outward from the source (ring = how many tiles away); in each ring the edges
first (left, right, up, down), then the corner tiles nearest an edge. So every tile borders the source or
an earlier tile when its turn comes.
"""

import math

from .plan import MAX_CANVAS_SIDE, MAX_TILES, CanvasPlan, Rect, Tile

MIN_STEP = 8


def split(length: int, step: int) -> list[int]:
    """Cut length into ceil(length/step) parts of near-equal size (larger ones first), summing exactly."""
    if length <= 0:
        return []
    count = math.ceil(length / step)
    base, extra = divmod(length, count)
    return [base + 1 if i < extra else base for i in range(count)]


def _outward(start: int, length: int, step: int, toward_negative: bool) -> list[tuple[int, int]]:
    """(start, size) of each band part, nearest the source first."""
    spans, edge = [], start + length if toward_negative else start
    for size in split(length, step):
        if toward_negative:
            edge -= size
            spans.append((edge, size))
        else:
            spans.append((edge, size))
            edge += size
    return spans


def _along(start: int, length: int, step: int) -> list[tuple[int, int]]:
    spans, edge = [], start
    for size in split(length, step):
        spans.append((edge, size))
        edge += size
    return spans


def check_settings(tile_size: int, overlap: int, margins: tuple[int, int, int, int]) -> int:
    """Validate and return the step (new pixels per tile along an axis)."""
    if min(margins) < 0:
        raise ValueError(f"left/top/right/bottom must be 0 or more px, got {margins}")
    step = tile_size - overlap
    if overlap < 0 or step < MIN_STEP:
        raise ValueError(f"overlap ({overlap}) must be between 0 and tile_size - {MIN_STEP} "
                         f"({tile_size - MIN_STEP}): each tile must add at least {MIN_STEP} new px")
    return step


def layout_tiles(source_width: int, source_height: int, left: int, top: int, right: int, bottom: int,
                 tile_size: int, overlap: int, global_caption: str = "") -> CanvasPlan:
    """The plan's geometry (captions empty), tiles in generation order."""
    step = check_settings(tile_size, overlap, (left, top, right, bottom))
    if source_width < 1 or source_height < 1:
        raise ValueError(f"the source image is empty ({source_width}x{source_height})")
    width, height = left + source_width + right, top + source_height + bottom
    if max(width, height) > MAX_CANVAS_SIDE:
        raise ValueError(f"the canvas would be {width}x{height} px; at most {MAX_CANVAS_SIDE} px per side "
                         "(MAX_CANVAS_SIDE): use smaller margins")
    source = Rect(left, top, source_width, source_height)
    columns = {"left": _outward(0, left, step, True), "right": _outward(source.right, right, step, False)}
    rows = {"up": _outward(0, top, step, True), "down": _outward(source.bottom, bottom, step, False)}
    src_cols, src_rows = _along(left, source_width, step), _along(top, source_height, step)
    side_cols, side_rows = sum(map(len, columns.values())), sum(map(len, rows.values()))
    count = side_cols * len(src_rows) + side_rows * len(src_cols) + side_cols * side_rows
    if count > MAX_TILES:  # checked on the spans (a few thousand at most) before any tile is made
        raise ValueError(f"this layout needs {count} tiles; at most {MAX_TILES} (MAX_TILES) are allowed: use a "
                         "larger tile_size, less overlap or smaller margins")

    keyed = []  # (ring, corner?, nearness to an edge, side order, position, Tile)
    for order, side in enumerate(("left", "right")):
        for ring, (x, w) in enumerate(columns[side], 1):
            for pos, (y, h) in enumerate(src_rows):
                keyed.append((ring, 0, 0, order, pos, Tile(Rect(x, y, w, h), side)))
    for order, side in enumerate(("up", "down"), 2):
        for ring, (y, h) in enumerate(rows[side], 1):
            for pos, (x, w) in enumerate(src_cols):
                keyed.append((ring, 0, 0, order, pos, Tile(Rect(x, y, w, h), side)))
    for order, (horizontal, vertical) in enumerate((("left", "up"), ("right", "up"), ("left", "down"),
                                                     ("right", "down"))):
        for i, (x, w) in enumerate(columns[horizontal], 1):
            for j, (y, h) in enumerate(rows[vertical], 1):
                # grows sideways from the tile beside it when it is at least as far out sideways
                direction = horizontal if i >= j else vertical
                keyed.append((max(i, j), 1, min(i, j), order, (i, j), Tile(Rect(x, y, w, h), direction)))
    keyed.sort(key=lambda item: item[:5])
    return CanvasPlan(global_caption, width, height, source, [item[-1] for item in keyed], tile_size=tile_size)


def neighbours(plan: CanvasPlan, index: int) -> list[tuple[str, int | None]]:
    """(side of tile ``index`` they border, tile index or None for the source) of the source and the
    tiles generated before it."""
    rect = plan.tiles[index].rect
    found = []
    side = rect.side_touching(plan.source)
    if side:
        found.append((side, None))
    for other in range(index):
        side = rect.side_touching(plan.tiles[other].rect)
        if side:
            found.append((side, other))
    return found
