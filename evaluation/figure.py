"""A figure of the best and worst items side by side (PIL only): each row shows a best item on the left
and a worst item on the right, each as a strip of panels under a one-line label."""

import itertools
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

PANEL_HEIGHT = 160
LABEL_HEIGHT = 14
GAP = 6


def overlay(image: Image.Image, mask: np.ndarray, color, ignore: np.ndarray | None = None) -> Image.Image:
    """The image with the mask (at the image's size) tinted (60% colour, as LISA's visualisation), ignored
    pixels in red."""
    base = np.asarray(image.convert("RGB"), dtype=np.float32)
    out = base.copy()
    out[mask] = base[mask] * 0.4 + np.array(color, np.float32) * 0.6
    if ignore is not None:
        out[ignore] = base[ignore] * 0.4 + np.array((255, 0, 0), np.float32) * 0.6
    return Image.fromarray(out.astype(np.uint8))


def strip(label: str, panels: list[Image.Image]) -> Image.Image:
    scaled = [p.convert("RGB").resize((max(1, round(p.width * PANEL_HEIGHT / p.height)), PANEL_HEIGHT))
              for p in panels]
    width = max(sum(p.width for p in scaled) + GAP * (len(scaled) - 1), 8 * len(label))
    canvas = Image.new("RGB", (width, PANEL_HEIGHT + LABEL_HEIGHT), "white")
    ImageDraw.Draw(canvas).text((2, 1), label, fill="black")
    x = 0
    for panel in scaled:
        canvas.paste(panel, (x, LABEL_HEIGHT))
        x += panel.width + GAP
    return canvas


def best_and_worst(best: list[Image.Image], worst: list[Image.Image], path: Path) -> Path:
    """Rows of (best strip | worst strip) under the headings 'best' and 'worst'."""
    rows = max(len(best), len(worst), 1)
    column = max([s.width for s in best + worst] or [PANEL_HEIGHT])
    row_height = PANEL_HEIGHT + LABEL_HEIGHT + GAP
    canvas = Image.new("RGB", (2 * column + 3 * GAP, LABEL_HEIGHT + rows * row_height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((GAP, 0), "best", fill="black")
    draw.text((2 * GAP + column, 0), "worst", fill="black")
    for index, (left, right) in enumerate(itertools.zip_longest(best, worst)):
        y = LABEL_HEIGHT + index * row_height
        if left is not None:
            canvas.paste(left, (GAP, y))
        if right is not None:
            canvas.paste(right, (2 * GAP + column, y))
    canvas.save(path)
    return path
