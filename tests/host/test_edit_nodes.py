"""Plan Edit, Edit Plan From JSON and Apply Edit Plan in the real ComfyUI registry: an MLLM server speaking
the OpenAI protocol (scripted answers), the tiny SAM, the tiny SD1.5-inpainting checkpoint."""

import json
from types import SimpleNamespace

import pytest
import torch

from harness.inprocess import node, server_mllm
from harness.openai_server import ScriptedOpenAIServer

STEPS = [
    {"instruction": "put a glass of soda on the table", "action": "add", "region": "the right part of the table",
     "prompt": "a tall glass of dark soda with ice"},
    {"instruction": "make the sky orange", "action": "global", "region": "", "prompt": "an orange evening sky"},
]


def picture(height=64, width=96):
    return torch.rand(1, height, width, 3, generator=torch.Generator().manual_seed(5))


def test_plan_edit_returns_plan_json_and_reasoning(comfy_host):
    answer = "<think>two edits</think>```json\n" + json.dumps({"steps": STEPS}) + "\n```"
    with ScriptedOpenAIServer(answer) as server:
        plan, plan_json, reasoning = node(comfy_host, "GenAssist_PlanEdit")(
            server_mllm(comfy_host, server, stream=False), picture(), "soda on the table, orange sky", 7, 6, 512, 0.2)
        sent = server.requests[0].json
    assert len(plan.steps) == 2 and plan.steps[1].region == "the whole image"
    assert json.loads(plan_json)["steps"][0] == STEPS[0]
    assert "two edits" in reasoning
    user = sent["messages"][-1]["content"]
    text = " ".join(part.get("text", "") for part in user if isinstance(part, dict))
    assert "Request: soda on the table, orange sky" in text and "at most 6 steps" in text
    assert any(part.get("type") == "image_url" for part in user if isinstance(part, dict))
    assert sent.get("seed") == 7


def test_plan_edit_unusable_answer_is_a_clear_error_after_one_repair(comfy_host):
    with ScriptedOpenAIServer(["I'm sorry, I can't.", "Still no."]) as server:
        with pytest.raises(RuntimeError, match="no usable edit plan.*Edit Plan From JSON"):
            node(comfy_host, "GenAssist_PlanEdit")(server_mllm(comfy_host, server, stream=False), picture(), "add a cat",
                                                         0, 6, 512, 0.2)
        assert len(server.requests) == 2


def test_plan_edit_truncates_to_max_steps(comfy_host):
    with ScriptedOpenAIServer(json.dumps({"steps": STEPS * 4})) as server:
        plan, _, reasoning = node(comfy_host, "GenAssist_PlanEdit")(
            server_mllm(comfy_host, server, stream=False), picture(), "many things", 0, 3, 512, 0.2)
    assert len(plan.steps) == 3 and "kept the first 3" in reasoning


def test_edit_plan_from_json_round_trip_and_errors(comfy_host):
    from_json = node(comfy_host, "GenAssist_EditPlanFromJSON")
    (plan,) = from_json(json.dumps({"steps": STEPS}))
    (again,) = from_json(plan.to_json())
    assert again == plan and len(plan.steps) == 2
    with pytest.raises(ValueError, match=r"Edit Plan From JSON: step 1: field 'prompt' is missing"):
        from_json('{"steps": [{"instruction": "a", "action": "add", "region": "b"}]}')
    with pytest.raises(ValueError, match="not valid JSON: .* line 1, column"):
        from_json('{"steps": [')
    default = comfy_host.NODE_CLASS_MAPPINGS["GenAssist_EditPlanFromJSON"].INPUT_TYPES()["required"]["plan_json"]
    assert len(from_json(default[1]["default"])[0].steps) == 2  # the default text is a valid plan


@pytest.fixture(scope="module")
def inpaint_parts(comfy_host, tiny):
    return node(comfy_host, "CheckpointLoaderSimple")(tiny.sd15_inpaint())


@pytest.fixture(scope="module")
def sam_handle(comfy_host, tiny):
    (handle,) = node(comfy_host, "GenAssist_LoadSAM")(tiny.sam(), "auto", False)
    return handle


def box_answer(box):
    return json.dumps({"explanation": "there", "objects": [{"label": "it", "box": box}]})


def apply(comfy_host, plan, segmenter, parts, image, seed=3, **kw):
    model, clip, vae = parts
    args = dict(seed=seed, steps=2, cfg=4.0, sampler_name="euler", scheduler="normal", denoise=1.0, context_px=8,
                resolution=64, grow_px=4, feather_px=4, harmonize=True, negative="blurry")
    args.update(kw)
    return node(comfy_host, "GenAssist_ApplyEditPlan")(image, plan, segmenter, model, clip, vae, **args)


def test_apply_edit_plan_outputs_and_skips(comfy_host, inpaint_parts, sam_handle):
    (plan,) = node(comfy_host, "GenAssist_EditPlanFromJSON")(json.dumps({"steps": [
        {"instruction": "add a cup", "action": "add", "region": "the table", "prompt": "a red cup"},
        {"instruction": "remove the dog", "action": "remove", "region": "the dog", "prompt": "grass"},
    ]}))
    replies = [box_answer([500, 500, 800, 900]), json.dumps({"explanation": "no dog here", "objects": []})]
    with ScriptedOpenAIServer(replies) as server:
        (segmenter,) = node(comfy_host, "GenAssist_GroundedSegmenter")(server_mllm(comfy_host, server, stream=False),
                                                                              sam_handle, "0-1000", 256, 0)
        image = picture()
        final, step_images, step_masks, log = apply(comfy_host, plan, segmenter, inpaint_parts, image)
    assert final.shape == image.shape and step_images.shape == (2, 64, 96, 3) and step_masks.shape == (2, 64, 96)
    assert torch.equal(step_images[1], final[0]) and torch.equal(step_images[0], step_images[1])
    assert step_masks[1].sum() == 0 and step_masks[0].sum() > 0
    outside = step_masks[0] == 0
    assert torch.equal(final[0][outside], image[0][outside])
    assert (final[0][~outside] != image[0][~outside]).any()
    assert "step 1/2 [add] add a cup" in log and "a red cup" in log
    assert "step 2/2" in log and "SKIPPED" in log and "no dog here" in log


def test_apply_edit_plan_empty_plan_and_batches(comfy_host, inpaint_parts, sam_handle):
    (empty,) = node(comfy_host, "GenAssist_EditPlanFromJSON")('{"steps": []}')
    images = torch.cat([picture(), picture() * 0.5])
    with ScriptedOpenAIServer(box_answer([0, 0, 500, 500])) as server:
        (segmenter,) = node(comfy_host, "GenAssist_GroundedSegmenter")(server_mllm(comfy_host, server, stream=False),
                                                                              sam_handle, "0-1000", 256, 0)
        final, step_images, step_masks, log = apply(comfy_host, empty, segmenter, inpaint_parts, images)
        assert not server.requests  # nothing to localize
        assert torch.equal(final, images) and step_images.shape[0] == 2 and step_masks.sum() == 0
        assert "empty plan" in log
        (one,) = node(comfy_host, "GenAssist_EditPlanFromJSON")(json.dumps({"steps": [
            {"instruction": "add a cup", "action": "add", "region": "the table", "prompt": "a red cup"}]}))
        final, step_images, step_masks, log = apply(comfy_host, one, segmenter, inpaint_parts, images)
    assert final.shape == (2, 64, 96, 3) and step_images.shape == (2, 64, 96, 3) and step_masks.shape == (2, 64, 96)
    assert "image 1:" in log and "image 2:" in log
    for index in range(2):
        outside = step_masks[index] == 0
        assert torch.equal(final[index][outside], images[index][outside])


def test_cancel_during_a_step_stops_the_plan(comfy_host, inpaint_parts, sam_handle):
    import comfy.model_management as mm

    (plan,) = node(comfy_host, "GenAssist_EditPlanFromJSON")(json.dumps({"steps": [
        {"instruction": "add a cup", "action": "add", "region": "the table", "prompt": "a red cup"},
        {"instruction": "add a dog", "action": "add", "region": "the grass", "prompt": "a dog"},
    ]}))

    def cancel_while_answering(request):
        mm.interrupt_current_processing(True)  # the user presses cancel while step 1 is being localized
        return box_answer([100, 100, 900, 900])

    with ScriptedOpenAIServer(cancel_while_answering) as server:
        (segmenter,) = node(comfy_host, "GenAssist_GroundedSegmenter")(server_mllm(comfy_host, server, stream=False),
                                                                              sam_handle, "0-1000", 256, 0)
        with pytest.raises(mm.InterruptProcessingException):
            apply(comfy_host, plan, segmenter, inpaint_parts, picture())
        assert len(server.requests) == 1  # step 2 was never localized
    assert not mm.processing_interrupted()


# --- localize (box / segmenter / painted masks) and global_denoise, through the node ---

def coffee(height=96, width=128):
    """A real photo (skimage's coffee cup) at a small size, [1,H,W,3]."""
    from skimage import data as skimage_data
    pixels = torch.from_numpy(skimage_data.coffee()).permute(2, 0, 1)[None].float() / 255
    small = torch.nn.functional.interpolate(pixels, size=(height, width), mode="area")
    return small.permute(0, 2, 3, 1).contiguous()


class LargeRegionSegmenter:
    """Stand-in for a stock segmenter: any phrase gives the lower 60% of the image (the whole table).
    Records what it was asked, instruction included."""

    kind = "stand-in"

    def __init__(self, found=True):
        self.queries, self.found = [], found

    def segment_box(self, image, box):
        return None  # no SAM: a box stays an ellipse

    def segment(self, image, query, node_id=None, instruction="", box=None):
        from genassist.nodes._segmenters import Segmentation
        self.queries.append((query, instruction))
        masks = torch.zeros(1 if self.found else 0, image.height, image.width)
        if self.found:
            masks[0, int(0.4 * image.height):, :] = 1
        return Segmentation(masks, "the table" if self.found else "nothing")


ADD_WITH_BOX = {"instruction": "add a glass of soda on the table", "action": "add",
                "region": "the left part of the table", "prompt": "a glass of dark soda", "box": [100, 450, 300, 750]}


def parse(comfy_host, *steps):
    return node(comfy_host, "GenAssist_EditPlanFromJSON")(json.dumps({"steps": list(steps)}))[0]


def test_add_step_with_a_box_edits_only_inside_the_grown_box_on_a_photo(comfy_host, inpaint_parts):
    from genassist.editing.localize import box_pixels
    image = coffee()
    segmenter = LargeRegionSegmenter()
    final, _, step_masks, log = apply(comfy_host, parse(comfy_host, ADD_WITH_BOX), segmenter, inpaint_parts, image)
    x0, y0, x1, y1 = box_pixels(ADD_WITH_BOX["box"], 128, 96)
    reach = 4 + 4  # grow_px + feather_px
    allowed = torch.zeros(96, 128, dtype=torch.bool)
    allowed[max(0, y0 - reach):y1 + reach, max(0, x0 - reach):x1 + reach] = True
    assert segmenter.queries == []
    assert step_masks[0].sum() > 0 and step_masks[0][~allowed].sum() == 0
    assert torch.equal(final[0][~allowed], image[0][~allowed])
    assert (final[0][allowed] != image[0][allowed]).any()
    assert "mask: box (ellipse)" in log

    no_box = {k: v for k, v in ADD_WITH_BOX.items() if k != "box"}
    final, _, step_masks, log = apply(comfy_host, parse(comfy_host, no_box), segmenter, inpaint_parts, image)
    assert segmenter.queries == [("the left part of the table", "add a glass of soda on the table")]
    assert "mask: segmenter, 60.42% of the image" in log  # the old behaviour: the table-sized mask
    assert step_masks[0][~allowed].sum() > 0


def test_painted_masks_win_and_localize_modes(comfy_host, inpaint_parts):
    image = coffee()
    plan = parse(comfy_host, ADD_WITH_BOX, {**ADD_WITH_BOX, "instruction": "add a spoon"})
    painted = torch.zeros(2, 48, 64)
    painted[0, 5:10, 5:15] = 1
    segmenter = LargeRegionSegmenter()
    _, _, step_masks, log = apply(comfy_host, plan, segmenter, inpaint_parts, image, masks=painted)
    assert "step 1/2" in log and "mask: painted mask" in log and "mask: box (ellipse)" in log
    assert step_masks[0][40:, :].sum() == 0  # the painted mask's step stays in its corner
    _, _, _, log = apply(comfy_host, plan, segmenter, inpaint_parts, image, localize="segmenter")
    assert log.count("mask: segmenter") == 2
    with pytest.raises(ValueError, match="masks holds 3 masks but the plan has 2 steps"):
        apply(comfy_host, plan, segmenter, inpaint_parts, image, masks=torch.zeros(3, 8, 8))


def test_global_denoise_is_an_img2img_that_keeps_earlier_steps(comfy_host, inpaint_parts):
    """The tiny checkpoint's random VAE garbles any image it round-trips, so distances are measured from
    the same step at denoise 0.01 (the round trip alone): what the sampler added on top of it."""
    image = coffee()
    glob = {"instruction": "make it warmer", "action": "global", "region": "", "prompt": "warm evening light"}
    outs = {}
    for strength in (0.01, 0.3, 0.9):
        final, _, _, log = apply(comfy_host, parse(comfy_host, glob), LargeRegionSegmenter(), inpaint_parts, image,
                                 global_denoise=strength)
        outs[strength] = final
        assert "mask: whole image, 100.00%" in log
    diffs = {s: float((outs[s] - outs[0.01]).abs().mean()) for s in (0.3, 0.9)}

    local_then_global = parse(comfy_host, ADD_WITH_BOX, glob)
    kept = {}
    for strength in (0.01, 0.5, 1.0):
        _, step_images, step_masks, _ = apply(comfy_host, local_then_global, LargeRegionSegmenter(),
                                              inpaint_parts, image, global_denoise=strength)
        kept[strength] = step_images[1][step_masks[0] > 0]
    local = {s: float((kept[s] - kept[0.01]).abs().mean()) for s in (0.5, 1.0)}
    assert 0 < diffs[0.3] < diffs[0.9], diffs  # measured: 0.0198 < 0.0691
    assert local[0.5] < local[1.0], local  # at the default the local step's pixels survive better (0.024 < 0.071)


def test_apply_edit_plan_shows_each_step_on_the_node_while_it_runs(comfy_host, inpaint_parts, monkeypatch):
    """The node's live text (the server's send_progress_text, as Expand Canvas shows its tiles) names each
    step as it starts, in plan order, a skipped step too, on the node that runs."""
    import server

    shown = []
    monkeypatch.setattr(server.PromptServer, "instance", SimpleNamespace(
        send_progress_text=lambda text, node_id, sid=None: shown.append((node_id, text))), raising=False)
    remove = {"instruction": "remove the spoon", "action": "remove", "region": "the spoon", "prompt": "a table"}
    plan = parse(comfy_host, ADD_WITH_BOX, remove)
    _, _, _, log = apply(comfy_host, plan, LargeRegionSegmenter(found=False), inpaint_parts, coffee(),
                         unique_id="12")
    assert "SKIPPED" in log  # step 2 was not found: it is announced all the same
    assert shown == [("12", "step 1/2 (add): add a glass of soda on the table"),
                     ("12", "step 2/2 (remove): remove the spoon")]


def test_lisa_query_carries_the_instruction(comfy_host):
    from genassist.nodes._segmenters import edit_query
    assert edit_query("the cup", "") == "the cup"
    query = edit_query("the left part of  the table", "Add a glass of soda.")
    assert query == "To add a glass of soda, which region of the image must change: the left part of the table?"


def test_a_step_not_found_falls_back_to_its_box_refined_by_sam(comfy_host, inpaint_parts, sam_handle):
    remove = {"instruction": "remove the cup", "action": "remove", "region": "the cup", "prompt": "an empty table",
              "box": [300, 200, 600, 700]}
    with ScriptedOpenAIServer(json.dumps({"explanation": "no cup", "objects": []})) as server:
        (segmenter,) = node(comfy_host, "GenAssist_GroundedSegmenter")(server_mllm(comfy_host, server, stream=False),
                                                                              sam_handle, "0-1000", 256, 0)
        passes = sam_handle.cache.encoder_passes
        image = coffee()
        direct = segmenter.segment_box(to_pil_image(image), (38, 19, 77, 67))
        _, _, step_masks, log = apply(comfy_host, parse(comfy_host, remove), segmenter, inpaint_parts, image)
        assert len(server.requests) == 1  # the region phrase was asked for first
    assert direct is None or direct.shape == (96, 128)
    assert sam_handle.cache.encoder_passes > passes  # SAM was asked for the box's mask
    expected = "box (SAM)" if direct is not None else "box (ellipse)"
    assert f"mask: {expected}" in log and "SKIPPED" not in log and step_masks[0].sum() > 0


def to_pil_image(image):
    from genassist.nodes._tensors import to_pil
    return to_pil(image)[0]
