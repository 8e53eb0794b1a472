"""Conversions between ComfyUI's IMAGE/MASK tensors and what the libraries take."""

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def as_rgb(image: torch.Tensor) -> torch.Tensor:
    """IMAGE [B,H,W,C] (any float dtype, C 1/3/4) -> float32 [B,H,W,3] on CPU."""
    if image.dim() == 3:
        image = image.unsqueeze(0)
    image = image.float().cpu()
    channels = image.shape[-1]
    if channels == 1:
        return image.expand(-1, -1, -1, 3).contiguous()
    if channels >= 3:
        return image[..., :3].contiguous()
    raise ValueError(f"IMAGE must have 1, 3 or 4 channels, got {channels}")


def mask_for(image: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """MASK ([H,W] or [B,H,W]) resized to the image and broadcast to its batch -> float32 [B,H,W] 0..1.
    None gives an all-zero mask. A mask batch of 1 is shared; any other mismatch is an error."""
    batch, height, width = image.shape[0], image.shape[1], image.shape[2]
    if mask is None:
        return torch.zeros(batch, height, width)
    mask = mask.float().cpu()
    if mask.dim() == 2:
        mask = mask.unsqueeze(0)
    if mask.shape[1:] != (height, width):
        mask = F.interpolate(mask.unsqueeze(1), size=(height, width), mode="bilinear",
                             align_corners=False).squeeze(1)
    if mask.shape[0] == 1 and batch > 1:
        mask = mask.expand(batch, -1, -1)
    if mask.shape[0] != batch:
        raise ValueError(f"mask batch {mask.shape[0]} does not match image batch {batch}; "
                         "give one mask, or one per image")
    return mask.clamp(0, 1).contiguous()


def to_pil(image: torch.Tensor) -> list[Image.Image]:
    """IMAGE -> list of RGB PIL images (one per batch item)."""
    rgb = as_rgb(image)
    arrays = (rgb.clamp(0, 1).numpy() * 255.0).round().astype(np.uint8)
    return [Image.fromarray(a, "RGB") for a in arrays]


def from_pil(images: list[Image.Image]) -> torch.Tensor:
    arrays = [np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0 for img in images]
    return torch.from_numpy(np.stack(arrays))
