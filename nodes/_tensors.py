"""Conversions between ComfyUI's IMAGE/MASK tensors and what the libraries take."""

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def describe_shape(tensor) -> str:
    return "x".join(str(side) for side in tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__


def finite(tensor: torch.Tensor) -> torch.Tensor:
    """NaN pixels read as 0, +inf as 1, -inf as 0 (a NaN would otherwise spread through every later step)."""
    return torch.nan_to_num(tensor, nan=0.0, posinf=1.0, neginf=0.0)


def as_rgb(image: torch.Tensor, name: str = "image") -> torch.Tensor:
    """IMAGE [B,H,W,C] (any float dtype, C 1/3/4; a 4th, alpha, channel is dropped, as ComfyUI's core nodes
    do) -> finite float32 [B,H,W,3] on CPU. Anything else is a ValueError naming the input and its shape."""
    if isinstance(image, torch.Tensor) and image.dim() == 3:
        image = image.unsqueeze(0)
    if (not isinstance(image, torch.Tensor) or image.dim() != 4 or image.shape[-1] not in (1, 3, 4)
            or min(image.shape[:3]) < 1):
        raise ValueError(f"{name} must be an IMAGE [batch, height, width, channels] with 1, 3 or 4 channels "
                         f"and at least 1 px, got {describe_shape(image)}")
    image = finite(image.float().cpu())
    if image.shape[-1] == 1:
        return image.expand(-1, -1, -1, 3).contiguous()
    return image[..., :3].contiguous()


def as_mask(mask: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """MASK [H,W], [B,H,W] (or [B,1,H,W] / [B,H,W,1]) -> finite float32 [B,H,W] on CPU."""
    if isinstance(mask, torch.Tensor):
        if mask.dim() == 2:
            mask = mask.unsqueeze(0)
        elif mask.dim() == 4 and 1 in (mask.shape[1], mask.shape[3]):
            mask = mask.squeeze(1) if mask.shape[1] == 1 else mask.squeeze(3)
    if not isinstance(mask, torch.Tensor) or mask.dim() != 3 or min(mask.shape) < 1:
        raise ValueError(f"{name} must be a MASK [batch, height, width] of at least 1 px, got {describe_shape(mask)}")
    return finite(mask.float().cpu())


def mask_for(image: torch.Tensor, mask: torch.Tensor | None, name: str = "mask") -> torch.Tensor:
    """MASK resized (bilinear, as ComfyUI's core compositing does) to the image [B,H,W,C] and broadcast to its
    batch -> float32 [B,H,W] 0..1. None gives an all-zero mask. A mask batch of 1 is shared; any other
    mismatch is a ValueError naming both shapes."""
    batch, height, width = image.shape[0], image.shape[1], image.shape[2]
    if mask is None:
        return torch.zeros(batch, height, width)
    mask = as_mask(mask, name)
    if mask.shape[0] not in (1, batch):
        raise ValueError(f"{name} holds {mask.shape[0]} masks ({describe_shape(mask)}) but the image batch is {batch} "
                         f"({describe_shape(image)}); give one mask, or one per image")
    if mask.shape[1:] != (height, width):
        mask = F.interpolate(mask.unsqueeze(1), size=(height, width), mode="bilinear",
                             align_corners=False).squeeze(1)
    if mask.shape[0] == 1 and batch > 1:
        mask = mask.expand(batch, -1, -1)
    return mask.clamp(0, 1).contiguous()


def same_batch(node: str, **tensors: torch.Tensor) -> list[torch.Tensor]:
    """Broadcast batch-1 inputs to the largest batch (in the order given); any other mismatch is a
    ValueError naming each input and its shape."""
    batch = max(t.shape[0] for t in tensors.values())
    if any(t.shape[0] not in (1, batch) for t in tensors.values()):
        shapes = ", ".join(f"{name} {describe_shape(t)}" for name, t in tensors.items())
        raise ValueError(f"{node}: batch sizes do not match ({shapes}); give one item or {batch} for each input")
    return [t.expand(batch, *t.shape[1:]) if t.shape[0] == 1 else t for t in tensors.values()]


def is_rgb(image) -> bool:
    """In as_rgb's output form: a float32 [B,H,W,3] tensor on the CPU, at least 1 px."""
    return (isinstance(image, torch.Tensor) and image.dim() == 4 and image.shape[-1] == 3
            and min(image.shape[:3]) >= 1 and image.dtype == torch.float32 and image.device.type == "cpu")


def to_pil(image: torch.Tensor, name: str = "image") -> list[Image.Image]:
    """IMAGE -> list of RGB PIL images (one per batch item).

    Validation belongs to as_rgb, at the node's input, where the input's name is known and the node goes on
    computing with what it returns: a tensor already in that form is converted as it is (no second copy and
    check), anything else (a raw IMAGE of another dtype or channel count, or a wrong shape) goes through
    as_rgb here, so a direct caller gets the same error naming ``name``. NaN still reads as 0 and the values
    are clamped to 0..1 either way."""
    rgb = image if is_rgb(image) else as_rgb(image, name)
    arrays = (rgb.clamp(0, 1).nan_to_num_(0.0).numpy() * 255.0).round().astype(np.uint8)
    return [Image.fromarray(a, "RGB") for a in arrays]


def from_pil(images: list[Image.Image]) -> torch.Tensor:
    arrays = [np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0 for img in images]
    return torch.from_numpy(np.stack(arrays))
