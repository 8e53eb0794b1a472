"""The step loop of a complex edit: per step, localize on the current image, crop, inpaint, stitch, harmonize.

Host-free: the segmenter and the inpainting model come in as callbacks, so the loop (order, skipping,
geometry, logging, the bit-identical guarantee) is tested without ComfyUI. Editing one step at a time,
each on the previous step's output, is our design (TIE's public material describes the decomposition,
the per-step masks and prompts, not the loop).

    localize(image [1,H,W,3], step) -> (mask [H,W] 1 = region, or None when nothing was found; note)
    inpaint(window_image [1,h,w,3], window_mask [1,h,w], step, index) -> window result [1,h',w',3] (any size: stitched
        back resized to the window)
    refine_box(image [1,H,W,3], (x0, y0, x1, y1) px) -> SAM mask [H,W] or None (see editing.localize)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from ..restoration.harmonize import HarmonizeSettings, harmonize_seams
from .localize import locate
from .plan import EditPlan, EditStep
from .region import crop_for_work, plan_region, resize_mask, stitch


@dataclass(frozen=True)
class ApplySettings:
    grow_px: int = 8
    feather_px: int = 16
    context_px: int = 64
    resolution: int = 512  # longer side of the working window
    harmonize: bool = True
    localize: str = "auto"  # auto | segmenter | box (editing.localize)


@dataclass
class StepRecord:
    index: int  # 0-based
    step: EditStep
    mask: torch.Tensor  # [H,W] where the step may have changed pixels (blend weight > 0); zeros if skipped
    area_percent: float  # of the located region (before growing), in % of the image
    seconds: float
    skipped: str = ""  # why the step did nothing ("" when it ran)
    note: str = ""  # what the segmenter said
    source: str = ""  # which mask was used: painted mask, box (ellipse), box (SAM), segmenter, whole image

    def log_line(self, count: int) -> str:
        head = (f"step {self.index + 1}/{count} [{self.step.action}] {self.step.instruction} | "
                f"region: {self.step.region!r}")
        if self.skipped:
            return f"{head} | SKIPPED: {self.skipped} | {self.seconds:.2f} s"
        return (f"{head} | mask: {self.source}, {self.area_percent:.2f}% of the image | prompt: {self.step.prompt} | "
                f"{self.seconds:.2f} s")


@dataclass
class ApplyResult:
    image: torch.Tensor  # [1,H,W,3]
    step_images: list[torch.Tensor] = field(default_factory=list)  # [1,H,W,3] after each step
    records: list[StepRecord] = field(default_factory=list)

    def log(self, notes: tuple[str, ...] = ()) -> str:
        lines = [f"note: {n}" for n in notes]
        if not self.records:
            lines.append("empty plan: the image is unchanged")
        lines.extend(r.log_line(len(self.records)) for r in self.records)
        return "\n".join(lines)


def harmonize_window(image: torch.Tensor, reference: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Seam harmonization of a stitched window [1,h,w,3] against the original window; pixels where
    weight == 0 stay the reference's bit for bit."""
    changed = (weight > 0).float()[None, None]
    if changed.sum() == 0 or changed.min() == 1:
        return image  # nothing preserved to match against
    out = harmonize_seams(image.movedim(-1, 1), reference.movedim(-1, 1), changed, HarmonizeSettings())
    return out.movedim(1, -1).to(image.dtype)


def run_step(image: torch.Tensor, mask: torch.Tensor, step: EditStep, index: int, inpaint: Callable,
             settings: ApplySettings) -> tuple[torch.Tensor, torch.Tensor]:
    """One localized edit -> (new image, [H,W] weight of where pixels may have changed)."""
    grow = 0 if step.action == "global" else settings.grow_px
    feather = 0 if step.action == "global" else settings.feather_px
    plan = plan_region(mask, grow, feather, settings.context_px, settings.resolution)
    window_image, window_mask = crop_for_work(image, plan)
    result = inpaint(window_image, window_mask, step, index)
    rows, cols = plan.window.slices
    before = image[:, rows, cols, :].clone()
    out = stitch(image, plan, result)
    if settings.harmonize:
        out[:, rows, cols, :] = harmonize_window(out[:, rows, cols, :], before, plan.blend)
    changed = torch.zeros(mask.shape[-2:], dtype=torch.float32)
    changed[rows, cols] = plan.blend
    return out, changed


def painted_mask(masks: torch.Tensor | None, index: int, height: int, width: int) -> torch.Tensor | None:
    """Step `index`'s painted mask [H,W] resized to the image, or None (no masks input, or fewer masks)."""
    if masks is None or index >= masks.shape[0]:
        return None
    return resize_mask(masks[index].float(), width, height)[0]


def apply_plan(image: torch.Tensor, plan: EditPlan, localize: Callable, inpaint: Callable,
               settings: ApplySettings = ApplySettings(), on_step: Callable[[int], None] | None = None,
               clock: Callable[[], float] = time.perf_counter, refine_box: Callable | None = None,
               masks: torch.Tensor | None = None) -> ApplyResult:
    """Run the plan's steps in order on one image [1,H,W,3]; each step sees the previous step's output.
    A step whose region is not found is skipped (logged) and the next one continues. on_step(i) is
    called before step i (progress, interrupt checks). masks: optional [N,h,w], mask i for step i (a
    non-empty one wins over every other localization)."""
    if masks is not None and masks.shape[0] > len(plan.steps):
        raise ValueError(f"masks holds {masks.shape[0]} masks but the plan has {len(plan.steps)} steps: give one "
                         "mask per step (an empty mask lets that step localize itself)")
    current = image
    result = ApplyResult(image)
    height, width = image.shape[1], image.shape[2]
    for index, step in enumerate(plan.steps):
        if on_step is not None:
            on_step(index)
        started = clock()
        where = locate(current, step, settings.localize, localize, refine_box,
                       painted_mask(masks, index, height, width))
        mask, note = where.mask, where.note
        if mask is None:
            why = f"region {step.region!r} not found" + (f" ({note})" if note else "")
            record = StepRecord(index, step, torch.zeros(height, width), 0.0, clock() - started, why, note,
                                where.source)
        else:
            area = 100.0 * float((mask > 0.5).float().mean())
            current, changed = run_step(current, mask, step, index, inpaint, settings)
            record = StepRecord(index, step, changed, area, clock() - started, "", note, where.source)
        result.records.append(record)
        result.step_images.append(current)
    result.image = current
    return result
