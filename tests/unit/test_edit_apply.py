"""The step loop (editing.apply) with a colour-coded localizer and inpainter: order, chaining, skipping,
global steps, harmonization and the bit-identical guarantee outside the grown + feathered union."""

import pytest
import torch

from genassist.editing.apply import ApplySettings, apply_plan
from genassist.editing.plan import EditPlan, EditStep

H, W = 96, 128
BOXES = {"the red box": (10, 10, 30, 30), "the green box": (70, 40, 100, 70), "the blue box": (40, 60, 60, 90)}
COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}


def step(region, colour="red", action="replace"):
    return EditStep(f"paint {region} {colour}", action, region, f"solid {colour}")


class Localizer:
    """Finds a phrase's box, but only if the image at that step has the colour the phrase expects there
    (so a step that must see an earlier step's output fails when it sees the original)."""

    def __init__(self, needs=None):
        self.calls, self.needs = [], needs or {}

    def __call__(self, image, edit, box=None):
        self.calls.append((edit.region, image.clone()))
        if edit.region not in BOXES:
            return None, "nothing matches"
        x0, y0, x1, y1 = BOXES[edit.region]
        if edit.region in self.needs:
            colour = torch.tensor(COLOURS[self.needs[edit.region]])
            if not torch.allclose(image[0, (y0 + y1) // 2, (x0 + x1) // 2], colour, atol=0.05):
                return None, "expected colour not there yet"
        mask = torch.zeros(H, W)
        mask[y0:y1, x0:x1] = 1
        return mask, "found"


def painter(calls=None):
    def inpaint(window, mask, edit, index):
        if calls is not None:
            calls.append((index, tuple(window.shape), tuple(mask.shape)))
        colour = torch.tensor(COLOURS[edit.prompt.split()[-1]])
        return window * (1 - mask[..., None]) + colour * mask[..., None]
    return inpaint


def picture():
    return torch.rand(1, H, W, 3, generator=torch.Generator().manual_seed(3)) * 0.5 + 0.25


SETTINGS = ApplySettings(grow_px=2, feather_px=3, context_px=4, resolution=64, harmonize=False)


def reach(region, settings=SETTINGS):
    x0, y0, x1, y1 = BOXES[region]
    r = settings.grow_px + settings.feather_px
    mask = torch.zeros(H, W, dtype=torch.bool)
    mask[max(0, y0 - r):y1 + r, max(0, x0 - r):x1 + r] = True
    return mask


def test_steps_run_in_order_each_on_the_previous_output():
    plan = EditPlan((step("the red box", "red"), step("the green box", "green"), step("the blue box", "blue")))
    localize, calls = Localizer(), []
    result = apply_plan(picture(), plan, localize, painter(calls), SETTINGS)
    assert [c[0] for c in calls] == [0, 1, 2]
    assert [region for region, _ in localize.calls] == ["the red box", "the green box", "the blue box"]
    assert torch.equal(localize.calls[0][1], picture())
    assert torch.equal(localize.calls[1][1], result.step_images[0])
    assert torch.equal(localize.calls[2][1], result.step_images[1])
    assert torch.equal(result.image, result.step_images[2])
    assert torch.allclose(result.image[0, 20, 20], torch.tensor(COLOURS["red"]), atol=0.02)
    assert torch.allclose(result.image[0, 55, 85], torch.tensor(COLOURS["green"]), atol=0.02)


def test_a_step_that_needs_the_previous_result_finds_it():
    plan = EditPlan((step("the red box", "green"), step("the red box", "blue")))
    first = apply_plan(picture(), EditPlan(plan.steps[:1]), Localizer(), painter(), SETTINGS)
    localize = Localizer(needs={"the red box": "green"})
    # the second step only finds its region once the first step painted it green
    second_only = apply_plan(picture(), EditPlan(plan.steps[1:]), localize, painter(), SETTINGS)
    assert second_only.records[0].skipped
    chained = apply_plan(first.image, EditPlan(plan.steps[1:]), localize, painter(), SETTINGS)
    assert not chained.records[0].skipped


def test_pixels_outside_the_grown_feathered_union_are_bit_identical():
    image = picture()
    plan = EditPlan((step("the red box", "red"), step("the green box", "green")))
    result = apply_plan(image, plan, Localizer(), painter(), SETTINGS)
    outside = ~(reach("the red box") | reach("the green box"))
    assert torch.equal(result.image[0][outside], image[0][outside])
    union = sum(r.mask for r in result.records) > 0
    assert not union[outside].any() and union[~outside].any()
    assert (result.image != image).any(dim=-1)[0][~outside].any()


def test_harmonize_keeps_the_guarantee():
    image = picture()
    settings = ApplySettings(grow_px=2, feather_px=3, context_px=8, resolution=64, harmonize=True)
    plan = EditPlan((step("the green box", "green"),))
    result = apply_plan(image, plan, Localizer(), painter(), settings)
    outside = ~reach("the green box", settings)
    assert torch.equal(result.image[0][outside], image[0][outside])
    assert not torch.equal(result.image, apply_plan(image, plan, Localizer(), painter(), SETTINGS).image)


def test_region_not_found_is_skipped_logged_and_the_next_step_runs():
    plan = EditPlan((step("the purple box"), step("the green box", "green")))
    result = apply_plan(picture(), plan, Localizer(), painter(), SETTINGS)
    skipped, ran = result.records
    assert skipped.skipped and "not found" in skipped.skipped and "nothing matches" in skipped.skipped
    assert torch.equal(result.step_images[0], picture()) and skipped.mask.sum() == 0
    assert not ran.skipped and ran.area_percent == pytest.approx(100 * 30 * 30 / (H * W))
    log = result.log()
    assert "step 1/2 [replace]" in log and "SKIPPED" in log and "'the purple box'" in log
    assert "step 2/2" in log and "solid green" in log and "% of the image" in log


def test_empty_mask_counts_as_not_found():
    result = apply_plan(picture(), EditPlan((step("the red box"),)), lambda img, s, box: (torch.zeros(H, W), ""),
                        painter(), SETTINGS)
    assert result.records[0].skipped and torch.equal(result.image, picture())


def test_empty_plan_returns_the_input_unchanged():
    image = picture()
    result = apply_plan(image, EditPlan(), Localizer(), painter(), SETTINGS)
    assert result.image is image and not result.records and "empty plan" in result.log()


def test_global_step_needs_no_localizer_and_covers_the_whole_image():
    calls = []
    plan = EditPlan((EditStep("make it all blue", "global", "the whole image", "solid blue"),))
    result = apply_plan(picture(), plan, Localizer(), painter(calls), SETTINGS)
    assert calls[0][1] == (1, 48, 64, 3)  # the whole 128x96 image at working size 64
    assert torch.allclose(result.image, torch.tensor(COLOURS["blue"]).expand(1, H, W, 3), atol=1e-5)
    assert float(result.records[0].mask.min()) == 1


def test_on_step_is_called_before_each_step_and_can_stop_the_loop():
    seen = []

    class Stop(Exception):
        pass

    def on_step(index):
        seen.append(index)
        if index == 1:
            raise Stop()

    plan = EditPlan((step("the red box"), step("the green box", "green")))
    with pytest.raises(Stop):
        apply_plan(picture(), plan, Localizer(), painter(), SETTINGS, on_step=on_step)
    assert seen == [0, 1]


def test_log_reports_seconds_from_the_clock():
    ticks = iter([0.0, 1.5, 2.0, 2.25])
    plan = EditPlan((step("the red box"), step("the nothing")))
    result = apply_plan(picture(), plan, Localizer(), painter(), SETTINGS, clock=lambda: next(ticks))
    assert [r.seconds for r in result.records] == [1.5, 0.25]
    assert "1.50 s" in result.log() and "0.25 s" in result.log()
