"""Grounding: an MLLM reasons about a query and answers boxes (and optional points) as JSON.

Pure logic for the grounded MLLM -> SAM segmenter: the prompt, a tolerant JSON reader, validation with
one repair turn, and each model family's coordinate convention converted to original-image pixels:

    qwen2.5-vl  absolute pixels of the image *as the model saw it* (Qwen's smart resize to multiples of 28)
    0-1000      Qwen3-VL / Qwen2-VL native; asked of every other model too (it is resolution-free)
    0-1         fractions of width/height
    pixels      pixels of the image as sent (a server that does not resize)
    loc1024     Gemma / PaliGemma: JSON in 0-1000 asked, and their <locYYYY> tokens read (box_tokens.py)
    internvl    InternVL: JSON in 0-1000 asked, and its <ref>/<box>[[x0,y0,x1,y1]]</box> answers read

A malformed answer after the repair turn is not an exception: the result says nothing was found and why,
so a queue of many images never stops on one bad answer.
"""

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from PIL import Image

from ..mllm.backend import GenerationSettings, Message
from ..mllm.structured_answer import StructuredAnswerError, ask_with_repair, extract_json
from .box_tokens import (
    INTERNVL_RANGE,
    LOC_RANGE,
    has_box_tags,
    has_loc_tokens,
    internvl_boxes,
    loc_token_boxes,
)

CONVENTIONS = ("qwen2.5-vl", "0-1000", "0-1", "pixels", "loc1024", "internvl")
FAMILY_CONVENTIONS = {"qwen2_5_vl": "qwen2.5-vl", "qwen3_vl": "0-1000", "qwen2_vl": "0-1000",
                      "qwen3_vl_moe": "0-1000", "qwen3_5": "0-1000", "qwen3_5_moe": "0-1000",
                      "gemma3": "loc1024", "gemma3n": "loc1024", "paligemma": "loc1024", "internvl": "internvl"}
_NATIVE_ONLY = ("loc1024", "internvl")  # JSON answers in these are 0-1000; their own syntax is read too
DEFAULT_CONVENTION = "0-1000"
MAX_OBJECTS = 20
_SLACK = 0.02  # coordinates this far (relative) outside the range are clamped, further out is an error

_BOX_KEYS = ("box", "bbox", "bbox_2d", "box_2d")
_POINT_KEYS = ("points", "point", "point_2d", "points_2d")
_LIST_KEYS = ("objects", "boxes", "detections", "results", "instances")


# The answer is not usable JSON boxes (the message is shown to the model in the repair turn).
GroundingAnswerError = StructuredAnswerError


def convention_for(family: str, override: str = "auto") -> str:
    if override and override != "auto":
        if override not in CONVENTIONS:
            raise ValueError(f"box format must be auto or one of {CONVENTIONS}, got {override!r}")
        return override
    return FAMILY_CONVENTIONS.get(family, DEFAULT_CONVENTION)


def qwen_resized_size(width: int, height: int, factor: int = 28, min_pixels: int = 56 * 56,
                      max_pixels: int = 28 * 28 * 16384) -> tuple[int, int]:
    """(w, h) of the image Qwen2.5-VL's processor feeds the model (its smart_resize), whose pixel grid
    the model's absolute box coordinates refer to."""
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


@dataclass(frozen=True)
class CoordinateFrame:
    """How the model's numbers map to original pixels: x_orig = x * scale_x (same for y)."""

    convention: str
    range_x: float  # the largest valid coordinate in the model's frame
    range_y: float
    width: int  # original image size
    height: int

    @property
    def scale_x(self) -> float:
        return self.width / self.range_x

    @property
    def scale_y(self) -> float:
        return self.height / self.range_y

    def describe(self) -> str:
        if self.convention in ("0-1000",) + _NATIVE_ONLY:
            return ("integers from 0 to 1000, relative to the image: 0 is the left/top edge, 1000 the "
                    "right/bottom edge")
        if self.convention == "0-1":
            return "fractions from 0.0 to 1.0 of the image width (x) and height (y)"
        return (f"absolute pixel coordinates of the image, which is {int(self.range_x)} pixels wide and "
                f"{int(self.range_y)} pixels high")


def frame_for(convention: str, width: int, height: int, qwen_resize: dict | None = None) -> CoordinateFrame:
    if convention == "0-1000" or convention in _NATIVE_ONLY:
        return CoordinateFrame(convention, 1000.0, 1000.0, width, height)
    if convention == "0-1":
        return CoordinateFrame(convention, 1.0, 1.0, width, height)
    if convention == "pixels":
        return CoordinateFrame(convention, float(width), float(height), width, height)
    if convention == "qwen2.5-vl":
        seen_w, seen_h = qwen_resized_size(width, height, **(qwen_resize or {}))
        return CoordinateFrame(convention, float(seen_w), float(seen_h), width, height)
    raise ValueError(f"unknown coordinate convention {convention!r}")


def grounding_prompt(query: str, frame: CoordinateFrame) -> str:
    return (
        "Find the object(s) in this image that the request below refers to. The request may describe the "
        "object indirectly (by its use, its properties or its relation to other things): reason about what "
        "it means first, then locate every matching object.\n"
        f"Request: {query.strip()}\n\n"
        "Answer with JSON only, no other text, in exactly this form:\n"
        '{"explanation": "<one sentence: what the request refers to and why>", '
        '"objects": [{"label": "<short name>", "box": [x1, y1, x2, y2], "points": [[x, y]]}]}\n'
        f"Coordinates are {frame.describe()}; x grows to the right, y grows downwards. box is the tight "
        "bounding box (top-left corner, then bottom-right corner). points is optional: one or two points "
        "clearly inside the object. One entry per separate object.\n"
        'If nothing in the image matches, answer {"explanation": "<why not>", "objects": []}.'
    )


def repair_prompt(error: str, frame: CoordinateFrame) -> str:
    return (f"That answer could not be used: {error}. Answer again with JSON only, in the form "
            '{"explanation": "...", "objects": [{"label": "...", "box": [x1, y1, x2, y2]}]}, with coordinates '
            f"as {frame.describe()}.")


@dataclass
class GroundedObject:
    label: str
    box: tuple[float, float, float, float] | None  # xyxy in original pixels
    points: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class GroundingResult:
    objects: list[GroundedObject]
    explanation: str
    answers: list[str]  # raw model answers (first try, repair)
    error: str | None = None  # why the answer was unusable (then objects is empty)

    @property
    def found(self) -> bool:
        return bool(self.objects)


def _numbers(value, count: int, what: str) -> list[float]:
    if isinstance(value, dict):  # {"x1":..,"y1":..} style
        keys = ("x1", "y1", "x2", "y2") if count == 4 else ("x", "y")
        value = [value.get(k) for k in keys]
    if not isinstance(value, (list, tuple)) or len(value) != count:
        raise GroundingAnswerError(f"{what} must be a list of {count} numbers, got {json.dumps(value)[:80]}")
    try:
        numbers = [float(v) for v in value]
    except (TypeError, ValueError) as error:
        raise GroundingAnswerError(f"{what} must hold numbers, got {json.dumps(value)[:80]}") from error
    if not all(math.isfinite(n) for n in numbers):
        raise GroundingAnswerError(f"{what} has a non-finite number")
    return numbers


def _clamp(value: float, limit: float, what: str) -> float:
    if value < -_SLACK * limit or value > (1 + _SLACK) * limit:
        raise GroundingAnswerError(f"{what} {value:g} is outside 0..{limit:g}")
    return min(max(value, 0.0), limit)


def _to_original_box(numbers: list[float], frame: CoordinateFrame) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = numbers
    x1, x2 = sorted((_clamp(x1, frame.range_x, "x"), _clamp(x2, frame.range_x, "x")))
    y1, y2 = sorted((_clamp(y1, frame.range_y, "y"), _clamp(y2, frame.range_y, "y")))
    if x2 - x1 <= 0 or y2 - y1 <= 0:
        raise GroundingAnswerError(f"box {numbers} has no area")
    return x1 * frame.scale_x, y1 * frame.scale_y, x2 * frame.scale_x, y2 * frame.scale_y


def _to_original_points(value, frame: CoordinateFrame) -> list[tuple[float, float]]:
    if value is None or value == []:
        return []
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        value = [value]  # a single point
    if not isinstance(value, (list, tuple)):
        raise GroundingAnswerError("points must be a list of [x, y] pairs")
    points = []
    for item in value:
        x, y = _numbers(item, 2, "a point")
        points.append((_clamp(x, frame.range_x, "x") * frame.scale_x, _clamp(y, frame.range_y, "y") * frame.scale_y))
    return points


def _object_list(value) -> tuple[list, str]:
    if isinstance(value, list):
        return value, ""
    if not isinstance(value, dict):
        raise GroundingAnswerError("the JSON must be an object with an 'objects' list")
    explanation = str(value.get("explanation") or value.get("reasoning") or "").strip()
    for key in _LIST_KEYS:
        if key in value:
            items = value[key]
            if not isinstance(items, list):
                raise GroundingAnswerError(f"'{key}' must be a list")
            return items, explanation
    if any(k in value for k in _BOX_KEYS + _POINT_KEYS):
        return [value], explanation  # one bare object
    raise GroundingAnswerError("the JSON has no 'objects' list")


def parse_grounding(text: str, frame: CoordinateFrame) -> tuple[list[GroundedObject], str]:
    """(objects in original pixels, explanation) from one answer; GroundingAnswerError if unusable."""
    native = _native_objects(text, frame)
    if native:
        return native, ""
    try:
        return _json_objects(*_object_list(extract_json(text)), frame)
    except GroundingAnswerError:
        if frame.convention == "internvl" and (bare := _native_objects(text, frame, bare=True)):
            return bare, ""  # InternVL's [[x0, y0, x1, y1]] with its tags dropped by the decoder
        raise


def _native_objects(text: str, frame: CoordinateFrame, bare: bool = False) -> list[GroundedObject]:
    """Boxes in the family's own syntax (see box_tokens.py), converted from its frame to original pixels."""
    if frame.convention == "loc1024" and has_loc_tokens(text):
        found, native = loc_token_boxes(text), LOC_RANGE
    elif frame.convention == "internvl" and (bare or has_box_tags(text)):
        found, native = internvl_boxes(text), INTERNVL_RANGE
    else:
        return []
    if len(found) > MAX_OBJECTS:
        raise GroundingAnswerError(f"{len(found)} objects is too many (at most {MAX_OBJECTS})")
    own = CoordinateFrame(frame.convention, native, native, frame.width, frame.height)
    return [GroundedObject(label, _to_original_box(numbers, own)) for label, numbers in found]


def _json_objects(items: list, explanation: str, frame: CoordinateFrame) -> tuple[list[GroundedObject], str]:
    if len(items) > MAX_OBJECTS:
        raise GroundingAnswerError(f"{len(items)} objects is too many (at most {MAX_OBJECTS})")
    objects = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise GroundingAnswerError(f"object {index + 1} is not a JSON object")
        box_value = next((item[k] for k in _BOX_KEYS if k in item), None)
        point_value = next((item[k] for k in _POINT_KEYS if k in item), None)
        box = None if box_value is None else _to_original_box(_numbers(box_value, 4, "box"), frame)
        points = _to_original_points(point_value, frame)
        if box is None and not points:
            raise GroundingAnswerError(f"object {index + 1} has neither a box nor points")
        objects.append(GroundedObject(str(item.get("label", "")).strip(), box, points))
    return objects, explanation


def ground(generate: Callable[[list[Message], GenerationSettings], str], image: Image.Image, query: str,
           frame: CoordinateFrame, settings: GenerationSettings) -> GroundingResult:
    """Ask, validate, and repair once. Never raises for a bad answer (see GroundingResult.error)."""
    if not query.strip():
        raise ValueError("the query is empty: describe what to segment, e.g. 'the object people sit on'")
    messages = [Message("user", grounding_prompt(query, frame), [image])]
    parsed, answers, error = ask_with_repair(generate, messages, settings, lambda text: parse_grounding(text, frame),
                                             lambda reason: repair_prompt(reason, frame))
    if error:
        return GroundingResult([], "", answers, error=error)
    objects, explanation = parsed
    return GroundingResult(objects, explanation, answers)
