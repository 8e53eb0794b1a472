"""The shape matrix's inputs: IMAGE and MASK tensors of every awkward shape, and the check that a node
either works (finite outputs) or fails with a ValueError naming an input and the shapes."""

import re

import torch

from .fuzz import Tally

SIDE = (24, 32)  # the ordinary image the odd ones are compared with


def _rand(*shape) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(sum(shape)))


def _non_finite(tensor: torch.Tensor) -> torch.Tensor:
    flat = tensor.view(-1)
    flat[0], flat[7], flat[-1] = float("nan"), float("inf"), float("-inf")
    return tensor


def images() -> dict[str, torch.Tensor]:
    h, w = SIDE
    return {
        "24x32": _rand(1, h, w, 3), "batch 3": _rand(3, h, w, 3), "1x1 px": _rand(1, 1, 1, 3),
        "8x4096 thin": _rand(1, 8, 4096, 3), "4096x8 tall": _rand(1, 4096, 8, 3), "RGBA": _rand(1, h, w, 4),
        "1 channel": _rand(1, h, w, 1), "no batch dim": _rand(h, w, 3), "NaN/inf": _non_finite(_rand(1, h, w, 3)),
        "2 channels": _rand(1, h, w, 2), "empty batch": torch.zeros(0, h, w, 3), "5 dims": _rand(1, 1, h, w, 3),
    }


def masks() -> dict[str, torch.Tensor | None]:
    h, w = SIDE
    half = torch.zeros(1, h, w)
    half[:, :, : w // 2] = 1
    return {
        "none": None, "same size": half, "other size 7x5": _rand(1, 7, 5).round(), "1x1": torch.ones(1, 1, 1),
        "empty": torch.zeros(1, h, w), "full": torch.ones(1, h, w), "[H,W]": half[0], "batch 2": half.repeat(2, 1, 1),
        "batch 3": half.repeat(3, 1, 1), "NaN/inf": _non_finite(half.clone()), "[B,1,H,W]": half[:, None],
        "bad 1x2x3x4": torch.ones(1, 2, 3, 4),
    }


# what every node that takes one must accept (README "How odd tensors are read"): alpha dropped, grey
# widened, NaN/inf clamped; a mask of another size resized, one mask shared by the batch
ORDINARY_IMAGES = ("24x32", "RGBA", "1 channel", "NaN/inf")
ORDINARY_MASKS = ("none", "same size", "other size 7x5", "1x1", "empty", "full", "[H,W]", "NaN/inf", "[B,1,H,W]")

_SHAPE = re.compile(r"\d+x\d+|batch")


def outcome(tally: Tally, node: str, names: tuple[str, ...], fn, *args, must_work: bool = False, **kwargs):
    """Run one combination: the outputs, or None after a ValueError whose message names one of `names` and
    a shape (never for a must_work combination). Any other exception (an internal error) is counted and
    fails the test."""
    result = tally.call(node, (ValueError,), fn, *args, **kwargs)
    if result is None:
        message = str(tally.last_error)
        assert not must_work, f"{node} refused an input it must accept: {message}"
        assert any(name in message for name in names) and _SHAPE.search(message), message
        return None
    for value in result:
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            assert torch.isfinite(value).all(), f"{node}: non-finite output"
    return result
