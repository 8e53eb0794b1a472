"""The canvas plan and its JSON contract.

    {"global_caption": "...", "width": W, "height": H, "tile_size": T,
     "source": {"x": .., "y": .., "width": .., "height": .., "caption": "..."},
     "tiles": [{"x": .., "y": .., "width": .., "height": .., "direction": "left|right|up|down",
                "caption": "..."}, ...]}

Canvas pixel coordinates; tiles in generation order; each rectangle is the area that tile generates.
Optional: ``source.caption`` (the MLLM's description of the source image) and ``tile_size`` (the side
of the window the model sees per tile, written by Plan Canvas). A valid plan covers every
canvas pixel outside the source exactly once, and every tile borders the source or an earlier tile.
"""

import json
import math
from dataclasses import dataclass, field

import numpy as np

from ..editing.plan import PlanError  # one error type for a bad plan, edit or canvas
from ..mllm.json_limits import loads

DIRECTIONS = ("left", "right", "up", "down")
MAX_CANVAS_SIDE = 49152  # a 16384 px image with 16384 px margins; larger canvases do not fit in memory
MAX_TILES = 4096  # each tile is one sampling run: more is days of work, not a plan


@dataclass(frozen=True)
class Rect:
    x: int
    y: int
    width: int
    height: int

    @property
    def right(self) -> int:
        return self.x + self.width

    @property
    def bottom(self) -> int:
        return self.y + self.height

    @property
    def area(self) -> int:
        return self.width * self.height

    def overlaps(self, other: "Rect") -> bool:
        return (self.x < other.right and other.x < self.right
                and self.y < other.bottom and other.y < self.bottom)

    def side_touching(self, other: "Rect") -> str | None:
        """The side of self that other borders along a segment of positive length, else None."""
        shares_rows = self.y < other.bottom and other.y < self.bottom
        shares_cols = self.x < other.right and other.x < self.right
        if shares_rows and other.right == self.x:
            return "left"
        if shares_rows and other.x == self.right:
            return "right"
        if shares_cols and other.bottom == self.y:
            return "up"
        if shares_cols and other.y == self.bottom:
            return "down"
        return None

    def as_dict(self) -> dict:
        return {"x": self.x, "y": self.y, "width": self.width, "height": self.height}


@dataclass
class Tile:
    rect: Rect
    direction: str  # the way the image grows into this tile, away from the known pixels it borders
    caption: str = ""


@dataclass
class CanvasPlan:
    global_caption: str
    width: int
    height: int
    source: Rect
    tiles: list[Tile] = field(default_factory=list)
    source_caption: str = ""
    tile_size: int = 0  # window side the tiles were laid out for; 0 = derived from the tiles

    @property
    def window_size(self) -> int:
        """The window side: tile_size, or for a plan without one, twice the largest tile side rounded up
        to a multiple of 8 (as much known context as new pixels, like the 2407.12642 baseline recipe)."""
        if self.tile_size:
            return self.tile_size
        largest = max((max(t.rect.width, t.rect.height) for t in self.tiles), default=8)
        return -(-2 * largest // 8) * 8

    def to_json(self) -> str:
        source = {**self.source.as_dict(), **({"caption": self.source_caption} if self.source_caption else {})}
        data = {"global_caption": self.global_caption, "width": self.width, "height": self.height,
                **({"tile_size": self.tile_size} if self.tile_size else {}), "source": source,
                "tiles": [{**t.rect.as_dict(), "direction": t.direction, "caption": t.caption}
                          for t in self.tiles]}
        return json.dumps(data, indent=1, ensure_ascii=False)

    def __repr__(self) -> str:
        return (f"CanvasPlan({self.width}x{self.height}, source {self.source.width}x{self.source.height} at "
                f"({self.source.x},{self.source.y}), {len(self.tiles)} tiles)")


def _integer(value, where: str, minimum: int, maximum: int = MAX_CANVAS_SIDE) -> int:
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or (isinstance(value, float) and not (math.isfinite(value) and value.is_integer()))):
        raise PlanError(f"{where} must be a whole number, got {str(value)[:40]}")
    if value < minimum:
        raise PlanError(f"{where} must be at least {minimum}, got {str(value)[:40]}")
    if value > maximum:
        raise PlanError(f"{where} is {str(value)[:40]}; at most {maximum} (MAX_CANVAS_SIDE) is allowed")
    return int(value)


def _field(obj: dict, key: str, where: str):
    if key not in obj:
        raise PlanError(f"{where}: missing field '{key}'")
    return obj[key]


def _rect(obj, where: str) -> Rect:
    if not isinstance(obj, dict):
        raise PlanError(f"{where} must be an object with x, y, width, height, got {type(obj).__name__}")
    x, y = (_integer(_field(obj, k, where), f"{where}: field '{k}'", 0) for k in ("x", "y"))
    w, h = (_integer(_field(obj, k, where), f"{where}: field '{k}'", 1) for k in ("width", "height"))
    return Rect(x, y, w, h)


def _text(obj: dict, key: str, where: str, allow_empty: bool = False) -> str:
    value = _field(obj, key, where)
    if not isinstance(value, str):
        raise PlanError(f"{where}: field '{key}' must be text, got {type(value).__name__}")
    if not value.strip() and not allow_empty:
        raise PlanError(f"{where}: field '{key}' is empty; write one")
    return value.strip()


def _parse_tile(obj, index: int, width: int, height: int) -> Tile:
    where = f"tiles[{index}]"
    rect = _rect(obj, where)
    where = f"tiles[{index}] (x={rect.x}, y={rect.y})"
    if rect.right > width or rect.bottom > height:
        raise PlanError(f"{where}: x+width={rect.right}, y+height={rect.bottom} reach outside the "
                        f"{width}x{height} canvas")
    direction = _text(obj, "direction", where)
    if direction not in DIRECTIONS:
        raise PlanError(f"{where}: field 'direction' must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    return Tile(rect, direction, _text(obj, "caption", where))


def plan_from_json(text: str) -> CanvasPlan:
    """Parse and validate an (edited) plan; raises PlanError naming the tile and the field."""
    if not isinstance(text, str) or not text.strip():
        raise PlanError("the plan JSON is empty: write the plan object, or connect Plan Canvas's plan_json")
    data = loads(text, "the plan", PlanError)
    if not isinstance(data, dict):
        raise PlanError("the plan must be a JSON object with global_caption, width, height, source, tiles")
    width = _integer(_field(data, "width", "plan"), "plan: field 'width'", 1)
    height = _integer(_field(data, "height", "plan"), "plan: field 'height'", 1)
    source = _rect(_field(data, "source", "plan"), "plan: field 'source'")
    if source.right > width or source.bottom > height:
        raise PlanError(f"plan: field 'source' ({source.width}x{source.height} at {source.x},{source.y}) "
                        f"reaches outside the {width}x{height} canvas")
    source_caption = _text(data["source"], "caption", "plan: field 'source'", True) if "caption" in data[
        "source"] else ""
    tile_size = _integer(data["tile_size"], "plan: field 'tile_size'", 16) if "tile_size" in data else 0
    tiles_data = _field(data, "tiles", "plan")
    if not isinstance(tiles_data, list):
        raise PlanError("plan: field 'tiles' must be a list")
    if len(tiles_data) > MAX_TILES:
        raise PlanError(f"plan: {len(tiles_data)} tiles; at most {MAX_TILES} (MAX_TILES) are allowed: use "
                        "larger tiles, less overlap or smaller margins")
    plan = CanvasPlan(_text(data, "global_caption", "plan"), width, height, source,
                      [_parse_tile(t, i, width, height) for i, t in enumerate(tiles_data)], source_caption,
                      tile_size)
    check_coverage(plan)
    return plan


def check_coverage(plan: CanvasPlan) -> None:
    """Every pixel outside the source in exactly one tile; each tile borders the source or an earlier tile."""
    rects = np.array([[t.rect.x, t.rect.y, t.rect.right, t.rect.bottom] for t in plan.tiles]).reshape(-1, 4)
    for index, tile in enumerate(plan.tiles):
        where = f"tiles[{index}] (x={tile.rect.x}, y={tile.rect.y})"
        if tile.rect.overlaps(plan.source):
            raise PlanError(f"{where} overlaps the source image; tiles may only cover new pixels")
        earlier = rects[:index]
        hit = ((earlier[:, 0] < tile.rect.right) & (tile.rect.x < earlier[:, 2])
               & (earlier[:, 1] < tile.rect.bottom) & (tile.rect.y < earlier[:, 3]))
        if hit.any():
            other = int(np.flatnonzero(hit)[0])
            raise PlanError(f"{where} overlaps tiles[{other}]: each pixel is generated by one tile only")
        known = [plan.source] + [t.rect for t in plan.tiles[:index]]
        if not any(tile.rect.side_touching(k) for k in known):
            raise PlanError(f"{where} borders neither the source nor an earlier tile: move it after a tile "
                            "it borders, so it grows from known pixels")
    missing = plan.width * plan.height - plan.source.area - sum(t.rect.area for t in plan.tiles)
    if missing:
        covered = np.zeros((plan.height, plan.width), dtype=bool)
        for r in [plan.source] + [t.rect for t in plan.tiles]:
            covered[r.y:r.bottom, r.x:r.right] = True
        y, x = (int(v[0]) for v in np.nonzero(~covered))
        raise PlanError(f"the tiles leave {missing} px of the canvas uncovered, e.g. pixel (x={x}, y={y}): "
                        "add a tile there or shrink the canvas")
