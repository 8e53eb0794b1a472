"""The tile loop: the canvas grows one tile at a time, in plan order.

Host-free: the caller supplies ``caption_for`` (plan caption, or a live MLLM caption) and ``inpaint``
(the diffusion model). The canvas and its generated-mask live in CPU memory; each step copies out one
window, and the decoded window is written straight back, so memory does not grow with the canvas.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .plan import CanvasPlan
from .window import paste_tile, prepare_window, work_inputs


def tile_seed(seed: int, index: int) -> int:
    """Tile ``index``'s seed: seed + index, kept within the 64-bit range seeds may take."""
    return (seed + index) % 2**64


@dataclass
class ExpandSettings:
    tile_size: int  # window side in canvas px (the model's working resolution)
    feather_px: int = 16
    harmonize: bool = True
    fill: str = "mirror_blur"
    seed: int = 0


def new_canvas(plan: CanvasPlan, source: torch.Tensor, out: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """(canvas [H, W, 3], generated [H, W]) with the source [h, w, 3] in place. ``out``: a preallocated
    [H, W, 3] buffer (e.g. one item of the output batch) to fill instead of a new one."""
    src = plan.source
    if tuple(source.shape[:2]) != (src.height, src.width):
        raise ValueError(f"the image is {source.shape[1]}x{source.shape[0]} but the plan was made for a "
                         f"{src.width}x{src.height} source: plan this image (Plan Canvas) or resize it")
    canvas = out if out is not None else torch.zeros(plan.height, plan.width, 3, dtype=torch.float32)
    canvas.zero_()
    canvas[src.y:src.bottom, src.x:src.right] = source[..., :3].to(canvas.dtype)
    return canvas, torch.zeros(plan.height, plan.width, dtype=torch.float32)


def expand_canvas(plan: CanvasPlan, source: torch.Tensor, settings: ExpandSettings,
                  caption_for: Callable[[int, torch.Tensor, torch.Tensor], str],
                  inpaint: Callable[[int, torch.Tensor, torch.Tensor, str], torch.Tensor],
                  out: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Grow ``source`` [h, w, 3] into the planned canvas -> (canvas [H, W, 3], generated [H, W] with
    1 = generated, the local caption used for each tile).

    caption_for(index, canvas, generated) -> local caption, called just before tile ``index``;
    inpaint(index, image [1, h, w, 3], mask [1, h, w], local caption) -> decoded IMAGE of the window."""
    canvas, generated = new_canvas(plan, source, out)
    used = []
    for index in range(len(plan.tiles)):
        caption = caption_for(index, canvas, generated)
        used.append(caption)
        generator = torch.Generator().manual_seed(tile_seed(settings.seed, index))
        prepared = prepare_window(plan, canvas, generated, index, settings.tile_size, settings.feather_px,
                                  settings.fill, generator)
        image, mask = work_inputs(prepared)
        decoded = inpaint(index, image, mask, caption)
        paste_tile(canvas, generated, plan, index, prepared, decoded, settings.harmonize)
    return canvas, generated, used
