"""Crop-and-stitch geometry (editing.region): windows, grow/feather, and the bit-identical guarantee."""

import pytest
import torch

from genassist.editing.region import (
    CropWindow,
    choose_window,
    crop_for_work,
    feather_outward,
    grow_mask,
    mask_bbox,
    plan_region,
    stitch,
    working_size,
)


def box(height, width, x0, y0, x1, y1):
    mask = torch.zeros(height, width)
    mask[y0:y1, x0:x1] = 1
    return mask


def test_bbox_is_end_exclusive_and_empty_is_none():
    assert mask_bbox(box(40, 50, 3, 4, 10, 20)) == (3, 4, 10, 20)
    assert mask_bbox(torch.zeros(8, 8)) is None
    assert mask_bbox(torch.full((8, 8), 0.4)) is None  # soft values below one half are not a region


@pytest.mark.parametrize("size,resolution,expected", [
    ((100, 50), 512, (512, 256)),
    ((512, 512), 512, (512, 512)),
    ((1000, 333), 512, (512, 168)),
    ((30, 7), 64, (64, 16)),
    ((3, 1000), 512, (8, 512)),
])
def test_working_size_scales_the_longer_side_in_multiples_of_8(size, resolution, expected):
    assert working_size(*size, resolution) == expected
    w, h = working_size(*size, resolution)
    assert w % 8 == 0 and h % 8 == 0 and max(w, h) == resolution


def test_window_is_padded_and_clamped_to_the_image():
    w = choose_window((10, 20, 30, 40), (64, 48), margin=16, resolution=64)
    assert (w.x0, w.y0, w.x1, w.y1) == (0, 4, 46, 48)
    assert (w.width, w.height) == (46, 44)


def test_grow_is_a_square_dilation_and_feather_ramps_linearly_to_exact_zero():
    mask = box(40, 40, 18, 18, 22, 22)
    grown = grow_mask(mask, 3)
    assert torch.equal(grown, box(40, 40, 15, 15, 25, 25))
    blend = feather_outward(grown, 4)
    assert torch.all(blend[15:25, 15:25] == 1)
    row = blend[20, 25:31].tolist()  # distance 1..6 to the right of the grown box
    assert row == pytest.approx([4 / 5, 3 / 5, 2 / 5, 1 / 5, 0, 0])
    assert torch.all(blend[box(40, 40, 11, 11, 29, 29) == 0] == 0)


def test_plan_window_contains_the_whole_blend():
    mask = box(200, 300, 120, 80, 160, 100)
    plan = plan_region(mask, grow_px=5, feather_px=7, context_px=10, resolution=128)
    w = plan.window
    assert (w.x0, w.y0, w.x1, w.y1) == (98, 58, 182, 122)
    assert plan.grown.shape == plan.blend.shape == (w.height, w.width)
    assert plan.blend[0].sum() == 0 and plan.blend[-1].sum() == 0 and plan.blend[:, 0].sum() == 0
    assert plan.area_fraction == pytest.approx(50 * 30 / (84 * 64))


def test_crop_is_at_working_size_and_mask_marks_the_grown_region():
    image = torch.rand(2, 200, 300, 3)
    plan = plan_region(box(200, 300, 120, 80, 160, 100), 5, 7, 10, 128)
    crop, mask = crop_for_work(image, plan)
    assert crop.shape == (2, plan.window.work_height, plan.window.work_width, 3)
    assert mask.shape == (1, plan.window.work_height, plan.window.work_width)
    assert float(mask.max()) == 1 and float(mask.min()) == 0


def test_stitch_writes_only_where_the_blend_is_positive():
    image = torch.rand(1, 120, 160, 3)
    original = image.clone()
    mask = box(120, 160, 60, 40, 90, 70)
    plan = plan_region(mask, 4, 6, 8, 64)
    result = torch.zeros(1, plan.window.work_height, plan.window.work_width, 3)
    out = stitch(image, plan, result)
    changed = (out != image).any(dim=-1)[0]
    reach = box(120, 160, 60 - 10, 40 - 10, 90 + 10, 70 + 10)
    assert changed.any() and not changed[reach == 0].any()
    assert torch.all(out[0, 45:65, 65:85] == 0)  # fully inside the grown mask: the result itself
    assert torch.equal(image, original)  # the input is not written


def test_stitch_in_place_writes_into_the_canvas_without_a_copy():
    canvas = torch.rand(1, 300, 400, 3)
    before = canvas.clone()
    plan = plan_region(box(300, 400, 10, 10, 30, 30), 0, 4, 0, 32)
    out = stitch(canvas, plan, torch.ones(1, 32, 32, 3), in_place=True)
    assert out is canvas
    assert torch.all(canvas[0, 10:30, 10:30] == 1)
    assert torch.equal(canvas[0, 40:], before[0, 40:])


def test_stitch_keeps_the_canvas_dtype_and_batch():
    canvas = torch.rand(3, 64, 64, 3).half()
    plan = plan_region(box(64, 64, 20, 20, 40, 40), 2, 2, 4, 64)
    out = stitch(canvas, plan, torch.zeros(1, plan.window.work_height, plan.window.work_width, 3))
    assert out.dtype == torch.float16 and out.shape == canvas.shape
    assert torch.all(out[:, 25:35, 25:35] == 0)


def test_explicit_window_is_used_as_given():
    window = CropWindow(0, 0, 64, 32, 64, 32)
    plan = plan_region(box(100, 100, 10, 10, 20, 20), 0, 0, 0, 512, window=window)
    assert plan.window == window and plan.grown.shape == (32, 64)


def test_empty_mask_gives_no_plan():
    assert plan_region(torch.zeros(1, 30, 30), 4, 4, 4, 64) is None
