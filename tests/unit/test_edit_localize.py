"""Where each step edits (editing.localize through editing.apply) on a real photo: the plan's box for add
steps, the segmenter for the others with the box as fallback, painted masks first, and the old behaviour
for plans without boxes."""

from dataclasses import replace

import pytest
import torch
from skimage import data as skimage_data

from genassist.editing.apply import ApplySettings, apply_plan
from genassist.editing.localize import box_pixels, ellipse_mask, locate
from genassist.editing.plan import EditPlan, EditStep

SETTINGS = ApplySettings(grow_px=4, feather_px=6, context_px=8, resolution=128, harmonize=True)


def photo():
    """skimage's coffee cup photo [1,H,W,3], shrunk to 200 x 150."""
    pixels = torch.from_numpy(skimage_data.coffee()).permute(2, 0, 1)[None].float() / 255
    small = torch.nn.functional.interpolate(pixels, size=(150, 200), mode="area")
    return small.permute(0, 2, 3, 1).contiguous()


class LargeRegion:
    """A stand-in segmenter that answers the region phrase with a large region (the whole table: the
    lower 60% of the image), as a stock segmenter does for "the left part of the table"."""

    def __init__(self, found=True):
        self.calls, self.boxes, self.found = [], [], found

    def __call__(self, image, step, box=None):
        self.calls.append(step.region)
        self.boxes.append(box)
        if not self.found:
            return None, "nothing matches"
        mask = torch.zeros(image.shape[1], image.shape[2])
        mask[int(0.4 * image.shape[1]):, :] = 1
        return mask, "the table"


def paint_green(window, mask, step, index):
    return window * (1 - mask[..., None]) + torch.tensor([0.1, 0.8, 0.2]) * mask[..., None]


def add_step(box=(100, 450, 300, 750)):
    return EditStep("add a glass of soda on the table", "add", "the left part of the table",
                    "a glass of soda", box)


def grown_box(box, height, width, reach):
    x0, y0, x1, y1 = box_pixels(box, width, height)
    allowed = torch.zeros(height, width, dtype=torch.bool)
    allowed[max(0, y0 - reach):y1 + reach, max(0, x0 - reach):x1 + reach] = True
    return allowed


@pytest.mark.parametrize("mode", ["auto", "box"])
def test_add_step_with_a_box_edits_inside_the_box_only(mode):
    image = photo()
    height, width = image.shape[1:3]
    segmenter = LargeRegion()
    settings = ApplySettings(**{**SETTINGS.__dict__, "localize": mode})
    result = apply_plan(image, EditPlan((add_step(),)), segmenter, paint_green, settings)
    record = result.records[0]
    allowed = grown_box(add_step().box, height, width, SETTINGS.grow_px + SETTINGS.feather_px)
    assert segmenter.calls == []  # the box wins: the table-sized segment is never asked for
    assert record.source == "box (ellipse)" and not record.skipped
    assert bool((record.mask > 0).any()) and not bool((record.mask[~allowed] > 0).any())
    assert torch.equal(result.image[0][~allowed], image[0][~allowed])  # bit for bit outside
    assert (result.image[0][allowed] - image[0][allowed]).abs().mean() > 0.05  # and it did paint inside
    x0, y0, x1, y1 = box_pixels(add_step().box, width, height)
    assert record.area_percent < 100.0 * (x1 - x0) * (y1 - y0) / (width * height)  # ellipse < its box
    assert "mask: box (ellipse)" in result.log()


def test_without_a_box_the_segmenters_region_is_used_as_before():
    image = photo()
    segmenter = LargeRegion()
    result = apply_plan(image, EditPlan((add_step(box=None),)), segmenter, paint_green, SETTINGS)
    old = apply_plan(image, EditPlan((add_step(box=None),)), segmenter, paint_green,
                     ApplySettings(**{**SETTINGS.__dict__, "localize": "segmenter"}))
    assert segmenter.calls == ["the left part of the table"] * 2
    assert result.records[0].source == "segmenter"
    assert abs(result.records[0].area_percent - 60.0) < 1.0
    assert torch.equal(result.image, old.image)


def test_segmenter_mode_ignores_the_box():
    segmenter = LargeRegion()
    result = apply_plan(photo(), EditPlan((add_step(),)), segmenter, paint_green,
                        ApplySettings(**{**SETTINGS.__dict__, "localize": "segmenter"}))
    assert segmenter.calls and result.records[0].source == "segmenter"
    assert abs(result.records[0].area_percent - 60.0) < 1.0


def test_other_steps_use_the_segmenter_then_fall_back_to_the_box():
    image = photo()
    step = EditStep("make the cup red", "attribute", "the cup", "a red cup", (300, 100, 700, 600))
    found = apply_plan(image, EditPlan((step,)), LargeRegion(), paint_green, SETTINGS)
    assert found.records[0].source == "segmenter"
    fallback = apply_plan(image, EditPlan((step,)), LargeRegion(found=False), paint_green, SETTINGS)
    assert fallback.records[0].source == "box (ellipse)" and "found nothing" in fallback.records[0].note
    without_box = apply_plan(image, EditPlan((replace(step, box=None),)), LargeRegion(found=False),
                             paint_green, SETTINGS)
    assert without_box.records[0].skipped and torch.equal(without_box.image, image)


def test_sam_refines_the_box_of_a_step_that_changes_an_object_not_of_an_add_step():
    image = photo()
    boxes = []

    def refine(img, pixels):
        boxes.append(pixels)
        x0, y0, x1, y1 = pixels
        mask = torch.zeros(img.shape[1], img.shape[2])
        mask[y0 + 2:y1 - 2, x0 + 2:x1 - 2] = 1
        return mask

    replace = EditStep("replace the cup by a bowl", "replace", "the cup", "a bowl", (300, 100, 700, 600))
    where = locate(image, replace, "box", LargeRegion(), refine)
    assert where.source == "box (SAM)" and boxes == [box_pixels(replace.box, 200, 150)]
    assert locate(image, add_step(), "auto", LargeRegion(), refine).source == "box (ellipse)"
    assert len(boxes) == 1


def test_a_painted_mask_wins_and_an_empty_one_localizes():
    image = photo()
    painted = torch.zeros(2, 75, 100)  # half size: resized to the image
    painted[0, 10:20, 10:30] = 1
    plan = EditPlan((add_step(), add_step()))
    segmenter = LargeRegion()
    result = apply_plan(image, plan, segmenter, paint_green, SETTINGS, masks=painted)
    assert [r.source for r in result.records] == ["painted mask", "box (ellipse)"]
    assert abs(result.records[0].area_percent - 100.0 * 40 * 20 / (200 * 150)) < 0.5
    with pytest.raises(ValueError, match="masks holds 3 masks but the plan has 2 steps"):
        apply_plan(image, plan, segmenter, paint_green, SETTINGS, masks=torch.zeros(3, 75, 100))


def test_ellipse_stays_inside_its_box_and_boxes_clamp_to_the_image():
    assert box_pixels((0, 0, 1000, 1000), 200, 150) == (0, 0, 200, 150)
    assert box_pixels((999, 999, 1000, 1000), 200, 150) == (199, 149, 200, 150)
    mask = ellipse_mask((20, 30, 80, 60), 100, 90)
    assert mask[:30].sum() == 0 and mask[60:].sum() == 0 and mask[:, :20].sum() == 0 and mask[:, 80:].sum() == 0
    assert mask[45, 50] == 1 and mask[30, 20] == 0  # centre in, corner out
    assert ellipse_mask((5, 5, 6, 6), 10, 10).sum() == 1


def test_the_segmenter_is_given_the_plans_box_in_pixels_except_in_segmenter_mode():
    image = photo()
    height, width = image.shape[1:3]
    step = EditStep("make the table red", "replace", "the table", "a red table", (100, 450, 300, 750))
    segmenter = LargeRegion()
    locate(image, step, "auto", segmenter)
    locate(image, step, "segmenter", segmenter)
    assert segmenter.boxes == [box_pixels(step.box, width, height), None]

