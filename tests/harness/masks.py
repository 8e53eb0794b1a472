"""Comparing a mask the host made with a CPU reference, on every test device."""

import torch

from .server import comfy_device

# On CUDA the node's SAM runs on the GPU (16-bit on 'auto') and the reference on the CPU: logits near 0
# may flip sign, so up to this fraction of pixels may differ there; on the CPU masks must be bit-identical.
GPU_MASK_TOLERANCE = 0.02


def assert_same_mask(mask, expected) -> None:
    mask, expected = torch.as_tensor(mask).cpu(), torch.as_tensor(expected).cpu()
    if comfy_device() == "cpu":
        assert torch.equal(mask, expected)
        return
    assert mask.shape == expected.shape
    differing = float((mask != expected).float().mean())
    assert differing <= GPU_MASK_TOLERANCE, f"{differing:.1%} of pixels differ from the CPU reference"
