"""What the MLLM is asked for a canvas, and how its answers are read (our prompts; the paper's are
unpublished).

Global caption, as 2407.12642 builds its own: describe the image, imagine its surroundings, summarise
both into one caption of the whole scene. Local caption of a tile: one short sentence, given the
global caption, the way the image grows and the captions of the tiles (or the source) it borders.
A malformed local answer never stops the canvas: the global caption stands in, with a log line.
"""

import logging
import math
import re

import numpy as np
import torch
from PIL import Image

from ..mllm.backend import Message
from ..mllm.parsing import AnswerError, parse_generation_answer
from .layout import neighbours
from .plan import CanvasPlan

log = logging.getLogger("GenAssist")

MAX_WORDS = 40  # a local caption longer than this is cut to its first sentence
GROWTH = {"left": "to the left", "right": "to the right", "up": "upwards", "down": "downwards"}
BORDER = {"left": "to its left", "right": "to its right", "up": "above it", "down": "below it"}

DESCRIBE = "Describe this image in one sentence: the main subject, the setting, the light and the style."
IMAGINE = ("Imagine the scene continues beyond the frame of the image. Write one short caption for what lies "
           "to the left, one for what lies to the right, one for what is above and one for what is below, "
           "one per line.")
SUMMARISE = ("Now summarise the image and its imagined surroundings in one global caption of the whole, wider "
             "scene: one or two sentences, at most 50 words. Answer with the caption only.")
TILE_SYSTEM = ("You write captions for one tile of a large picture that is painted tile by tile. A caption is "
               "one short sentence (at most 30 words) describing only what is visible inside that tile. It "
               "must fit the global caption of the whole scene and continue the captions of the neighbouring "
               "tiles, without repeating their main subject unless it extends into this tile. Answer with "
               "the caption only.")


def describe_source(ask, image) -> str:
    """The source image's own caption (context for the tiles bordering it); empty, with a log line, when
    the answer holds none (those tiles then see the global caption)."""
    try:
        return parse_generation_answer(ask([Message("user", DESCRIBE, [image])])).prompt
    except AnswerError as error:
        log.warning("GenAssist canvas: no usable description of the source (%s); its neighbours get the "
                    "global caption", error)
        return ""


def write_global_caption(ask, image) -> tuple[str, str]:
    """(global caption, description of the source) in three turns: describe, imagine, summarise.
    ``ask(messages) -> answer``. A summary that holds no caption falls back to the description."""
    turns = [Message("user", DESCRIBE, [image])]
    first = ask(turns)
    try:
        description = parse_generation_answer(first).prompt
    except AnswerError as error:
        raise AnswerError(f"the MLLM did not describe the source image ({error}); write a global_caption "
                          "yourself or use another model") from None
    turns += [Message("assistant", first), Message("user", IMAGINE)]
    imagined = ask(turns)
    turns += [Message("assistant", imagined), Message("user", SUMMARISE)]
    summary, _ = read_caption(ask(turns), description, "global caption", max_words=2 * MAX_WORDS)
    return summary, description


def caption_plan(plan: CanvasPlan, ask) -> CanvasPlan:
    """Write every tile's local caption in generation order, in place. ``ask(messages, index) -> answer``."""
    captions: dict[int, str] = {}
    for index, tile in enumerate(plan.tiles):
        answer = ask(tile_request(plan, index, captions), index)
        tile.caption, _ = read_caption(answer, plan.global_caption, f"tiles[{index}]")
        captions[index] = tile.caption
    return plan


def _position(plan: CanvasPlan, index: int) -> str:
    rect, src = plan.tiles[index].rect, plan.source
    vertical = "top" if rect.bottom <= src.y else "bottom" if rect.y >= src.bottom else ""
    horizontal = "left" if rect.right <= src.x else "right" if rect.x >= src.right else ""
    place = "-".join(p for p in (vertical, horizontal) if p) or "middle"
    return (f"x {rect.x} to {rect.right}, y {rect.y} to {rect.bottom} of the {plan.width}x{plan.height} "
            f"canvas ({place} part)")


def neighbour_lines(plan: CanvasPlan, index: int, captions: dict[int, str]) -> list[str]:
    """'- to its right (the original image): "..."' for each bordering tile with a caption so far."""
    lines = []
    for side, other in neighbours(plan, index):
        if other is None:
            text = plan.source_caption or plan.global_caption
            lines.append(f'- {BORDER[side]} (the original image): "{text}"')
        elif captions.get(other):
            lines.append(f'- {BORDER[side]}: "{captions[other]}"')
    return lines


def tile_request(plan: CanvasPlan, index: int, captions: dict[int, str], image=None,
                 planned: str = "") -> list[Message]:
    """The request for tile ``index``'s local caption. ``captions``: tile index -> caption used so far;
    ``image``: the canvas so far (black = not painted yet) for live captions; ``planned``: the plan's
    caption, which a live caption may keep or adjust."""
    tile = plan.tiles[index]
    text = [f'Global caption of the whole scene: "{plan.global_caption}"',
            f"The picture grows {GROWTH[tile.direction]} into a new tile at {_position(plan, index)}.",
            "Neighbours of the new tile:", *(neighbour_lines(plan, index, captions) or ["- none captioned"])]
    if image is not None:
        text.append("The attached picture is the canvas painted so far; black parts are not painted yet.")
    if planned:
        text.append(f'The plan proposed: "{planned}". Keep it unless the picture shows it no longer fits.')
    text.append("Write the caption of the new tile.")
    return [Message("system", TILE_SYSTEM),
            Message("user", "\n".join(text), [image] if image is not None else [])]


_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def read_caption(answer: str, fallback: str, where: str, max_words: int = MAX_WORDS) -> tuple[str, bool]:
    """(caption, True) from an answer, or (fallback, False) with a log line when it holds no caption."""
    try:
        caption = parse_generation_answer(answer).prompt
    except AnswerError as error:
        log.warning("GenAssist canvas: %s: unusable caption answer (%s); using the global caption", where, error)
        return fallback, False
    if not re.search(r"[^\W\d_]", caption):
        log.warning("GenAssist canvas: %s: the caption answer %r has no words; using the global caption",
                    where, caption[:80])
        return fallback, False
    if len(caption.split()) > max_words:
        first = _SENTENCE.split(caption)[0]
        caption = first if len(first.split()) <= max_words else " ".join(first.split()[:max_words])
        log.info("GenAssist canvas: %s: caption longer than %d words, kept %r", where, max_words, caption)
    return caption, True


def canvas_view(plan: CanvasPlan, canvas: torch.Tensor, generated: torch.Tensor, max_side: int = 768) -> Image.Image:
    """The canvas so far as the MLLM sees it: every k-th pixel (a strided view: no canvas-sized copy),
    unpainted parts black."""
    stride = max(1, math.ceil(max(plan.width, plan.height) / max_side))
    pixels = canvas[::stride, ::stride, :3].float()
    known = generated[::stride, ::stride] > 0
    src = plan.source
    rows = torch.arange(0, plan.height, stride)
    cols = torch.arange(0, plan.width, stride)
    known |= ((rows >= src.y) & (rows < src.bottom))[:, None] & ((cols >= src.x) & (cols < src.right))[None]
    shown = (pixels * known[..., None]).clamp(0, 1)
    return Image.fromarray((shown.numpy() * 255).round().astype(np.uint8), "RGB")


def conditioning_text(global_caption: str, local_caption: str, direction: str = "") -> str:
    """What a tile is conditioned on: the local caption first (CLIP weighs early tokens most), then the
    global one. The same text twice (a fallback caption) is given once. With a direction, the text ends
    by saying which way the picture grows (our wording), so the model continues the scene outward."""
    local, whole = local_caption.strip(), global_caption.strip()
    text = whole if not local or local == whole else f"{local.rstrip('.')}. {whole}"
    if direction:
        text = f"{text.rstrip('.')}. The picture continues {GROWTH[direction]}."
    return text
