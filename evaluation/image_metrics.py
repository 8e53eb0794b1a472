"""L1 and L2 as MagicBrush's evaluation (evaluation/image_eval.py) computes them: both images RGB, the
prediction resized to the target's size with PIL bicubic, pixels scaled to 0..1, then the mean absolute
(L1) and the mean squared (L2) difference over every pixel and channel. MagicBrush's targets are 512x512,
so by default both images are brought to that size (a target of another size is resized too, bicubic)."""

import numpy as np
from PIL import Image

EVAL_SIZE = (512, 512)


def as_eval_array(image: Image.Image, size=EVAL_SIZE) -> np.ndarray:
    image = image.convert("RGB")
    if size is not None and image.size != tuple(size):
        image = image.resize(tuple(size), Image.BICUBIC)
    return np.asarray(image, dtype=np.float64) / 255.0


def l1_l2(prediction: Image.Image, target: Image.Image, size=EVAL_SIZE) -> tuple[float, float]:
    """size None: the target's own size (what the script does for any target)."""
    size = size or target.size
    diff = as_eval_array(prediction, size) - as_eval_array(target, size)
    return float(np.abs(diff).mean()), float((diff ** 2).mean())
