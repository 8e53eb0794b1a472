"""gIoU and cIoU as LISA's evaluation computes them (train_ds.py validate / utils.intersectionAndUnionGPU):
per query, intersection and union of the foreground over the pixels not marked ignore (255); gIoU is the
mean of the per-query IoUs, where a query with an empty target and an empty prediction (union 0) counts 1;
cIoU is the sum of intersections over the sum of unions. LISA divides by union + 1e-5 (and 1e-10 for cIoU);
we divide exactly, which differs by at most 1e-5 relative. The prediction is resized to the image's size
(nearest) before comparing, as LISA scores masks at the original resolution."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

IGNORE = 255


@dataclass(frozen=True)
class MaskCounts:
    intersection: int
    union: int

    @property
    def iou(self) -> float:
        return 1.0 if self.union == 0 else self.intersection / self.union


def mask_counts(prediction: np.ndarray, target: np.ndarray) -> MaskCounts:
    """prediction: bool/0-1 [H, W]; target: uint8 [H, W] with 0, 1 and 255 (ignored)."""
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {prediction.shape} and target {target.shape} differ in size")
    valid = target != IGNORE
    predicted = prediction.astype(bool) & valid
    wanted = (target == 1) & valid
    return MaskCounts(int((predicted & wanted).sum()), int((predicted | wanted).sum()))


def giou(counts: list[MaskCounts]) -> float:
    return float(np.mean([c.iou for c in counts])) if counts else float("nan")


def ciou(counts: list[MaskCounts]) -> float:
    union = sum(c.union for c in counts)
    if not counts:
        return float("nan")
    return 1.0 if union == 0 else sum(c.intersection for c in counts) / union


def load_prediction_mask(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A saved mask (white = object) as bool [H, W] at size (W, H); resized nearest when it differs."""
    with Image.open(path) as image:
        gray = image.convert("L")
        if gray.size != tuple(size):
            gray = gray.resize(tuple(size), Image.NEAREST)
        return np.asarray(gray) > 127
