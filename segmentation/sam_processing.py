"""SAM's image preprocessing, prompt scaling and mask postprocessing, as the reference code does them.

segment-anything (``ResizeLongestSide``, ``Sam.preprocess``/``postprocess_masks``) and LISA's chat.py:
longest side -> 1024 with ``int(x + 0.5)`` rounding and a bilinear PIL resize, ImageNet mean/std on
0..255 values, zero padding at the bottom and right; masks are upsampled to the padded square, cropped to
the resized image and resized to the original size. ``logits > 0`` is the mask.
"""

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .sam_model import PIXEL_MEAN, PIXEL_STD

MASK_THRESHOLD = 0.0


def resized_size(height: int, width: int, long_side: int = 1024) -> tuple[int, int]:
    """(h, w) after scaling the longest side to long_side (ResizeLongestSide.get_preprocess_shape)."""
    scale = long_side / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def as_uint8_rgb(image) -> np.ndarray:
    """PIL image or HxWx3 uint8 array -> contiguous HxWx3 uint8 array."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 uint8 image, got {array.dtype} {array.shape}")
    return np.ascontiguousarray(array)


def preprocess(image, image_size: int = 1024) -> tuple[torch.Tensor, tuple[int, int]]:
    """HxWx3 uint8 -> (float32 [3, S, S] normalised and zero-padded, resized (h, w))."""
    pixels = as_uint8_rgb(image)
    height, width = pixels.shape[:2]
    new_h, new_w = resized_size(height, width, image_size)
    resized = np.asarray(Image.fromarray(pixels).resize((new_w, new_h), Image.BILINEAR), dtype=np.float32)
    tensor = torch.from_numpy(resized.copy()).permute(2, 0, 1)
    tensor = (tensor - torch.tensor(PIXEL_MEAN).view(3, 1, 1)) / torch.tensor(PIXEL_STD).view(3, 1, 1)
    return F.pad(tensor, (0, image_size - new_w, 0, image_size - new_h)), (new_h, new_w)


def scale_coords(coords: torch.Tensor, original_hw: tuple[int, int], resized_hw: tuple[int, int]) -> torch.Tensor:
    """[..., 2] (x, y) in original pixels -> the resized image's pixels (ResizeLongestSide.apply_coords)."""
    out = coords.clone().float()
    out[..., 0] = out[..., 0] * (resized_hw[1] / original_hw[1])
    out[..., 1] = out[..., 1] * (resized_hw[0] / original_hw[0])
    return out


def scale_boxes(boxes: torch.Tensor, original_hw, resized_hw) -> torch.Tensor:
    """[N, 4] xyxy boxes in original pixels -> the resized image's pixels."""
    return scale_coords(boxes.reshape(-1, 2, 2), original_hw, resized_hw).reshape(-1, 4)


def postprocess(low_res: torch.Tensor, resized_hw: tuple[int, int], original_hw: tuple[int, int],
                image_size: int = 1024) -> torch.Tensor:
    """Low-res mask logits [N, 1, h, w] -> logits [N, H, W] at the original size (float32)."""
    masks = F.interpolate(low_res.float(), (image_size, image_size), mode="bilinear", align_corners=False)
    masks = masks[..., : resized_hw[0], : resized_hw[1]]
    masks = F.interpolate(masks, original_hw, mode="bilinear", align_corners=False)
    return masks[:, 0]
