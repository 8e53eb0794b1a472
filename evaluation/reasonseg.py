"""ReasonSeg in its published layout: ``<split>/<name>.jpg`` beside ``<name>.json`` holding "text" (the
queries), "is_sentence" and "shapes" (labelme polygons). As LISA's reader (utils/data_processing.py) does:
shapes labelled "flag" are skipped, a label containing "ignore" marks pixels excluded from scoring (255),
any other label is the target (1); polygons are drawn largest first, outline included, points truncated
to integers, so a smaller polygon drawn later wins where they overlap."""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .items import ItemError, ReadResult, split_folder
from .mask_metrics import IGNORE

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
TARGET = 1


@dataclass
class ReasonSegItem:
    stem: str
    image_path: Path
    json_path: Path
    queries: list[str]
    is_sentence: bool
    shapes: list[dict]  # [{"label": str, "points": [[x, y], ...]}], validated

    @property
    def query_type(self) -> str:
        return "sentence" if self.is_sentence else "short"

    def target(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """uint8 [H, W]: 0 background, 1 target, 255 ignored. size (W, H) defaults to the image's."""
        if size is None:
            with Image.open(self.image_path) as image:
                size = image.size
        return rasterize(self.shapes, size)


def _polygon_area(points: list, size) -> int:
    canvas = Image.new("L", size, 0)
    ImageDraw.Draw(canvas).polygon(points, fill=1, outline=1)
    return int(np.asarray(canvas, dtype=np.int64).sum())


def rasterize(shapes: list[dict], size: tuple[int, int]) -> np.ndarray:
    drawn = []
    for shape in shapes:
        if shape["label"].lower() == "flag":
            continue
        points = [(int(x), int(y)) for x, y in shape["points"]]  # LISA casts to int32: truncation
        drawn.append((_polygon_area(points, size), points, IGNORE if "ignore" in shape["label"].lower() else TARGET))
    canvas = Image.new("L", size, 0)
    draw = ImageDraw.Draw(canvas)
    for _, points, value in sorted(drawn, key=lambda entry: -entry[0]):  # largest first, as LISA sorts
        draw.polygon(points, fill=value, outline=value)
    return np.asarray(canvas, dtype=np.uint8)


def _read_json(path: Path) -> dict:
    raw = path.read_bytes()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return json.loads(raw.decode("cp1252"))  # some released files are cp1252, LISA retries the same way


def parse_item(image_path: Path) -> ReasonSegItem:
    json_path = image_path.with_suffix(".json")
    if not json_path.is_file():
        raise ItemError(json_path, "file", f"missing (every image needs a same-name JSON; image {image_path.name})")
    try:
        data = _read_json(json_path)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ItemError(json_path, "file", f"not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ItemError(json_path, "file", "the top level is not an object")
    text = data.get("text")
    if isinstance(text, str):
        text = [text]
    if not isinstance(text, list) or not text or not all(isinstance(t, str) and t.strip() for t in text):
        raise ItemError(json_path, "text", "must be a non-empty list of query strings")
    if "is_sentence" not in data:
        raise ItemError(json_path, "is_sentence", "missing")
    shapes = data.get("shapes")
    if not isinstance(shapes, list):
        raise ItemError(json_path, "shapes", "missing or not a list")
    for index, shape in enumerate(shapes):
        where = f"shapes[{index}]"
        if not isinstance(shape, dict) or not isinstance(shape.get("label"), str):
            raise ItemError(json_path, f"{where}.label", "missing or not a string")
        points = shape.get("points")
        if (not isinstance(points, list) or len(points) < 3
                or not all(isinstance(p, list | tuple) and len(p) == 2
                           and all(isinstance(v, int | float) for v in p) for p in points)):
            raise ItemError(json_path, f"{where}.points", "must be a list of at least 3 [x, y] number pairs")
    return ReasonSegItem(image_path.stem, image_path, json_path, [t.strip() for t in text],
                         bool(data["is_sentence"]), shapes)


def read_reasonseg(root, split: str | None = None, limit: int | None = None) -> ReadResult:
    """Items sorted by name; a malformed item is left out with an error naming its file and field."""
    folder = split_folder(root, split)
    result = ReadResult()
    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    for image_path in images:
        if limit is not None and len(result.items) + len(result.errors) >= limit:
            break
        try:
            result.items.append(parse_item(image_path))
        except ItemError as err:
            result.errors.append(str(err))
    return result


def prediction_name(stem: str, query_index: int) -> str:
    """The stable prediction file name: one mask per query, white = object."""
    return f"{stem}_{query_index}.png"
