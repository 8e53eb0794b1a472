"""Shape matrix of the nodes that run a (tiny) model: Restore, Segment (grounded SAM and LISA), Apply Edit
Plan and Expand Canvas. Each call samples or runs a network on CPU, so each gets a smaller matrix than
the weight-free nodes: every odd IMAGE once, MASK variants where the node takes one."""

import itertools
import json

import pytest
import torch

from harness.inprocess import node, server_mllm
from harness.openai_server import ScriptedOpenAIServer
from harness.shapes import images, masks, outcome

BOX = json.dumps({"explanation": "there", "objects": [{"label": "it", "box": [100, 100, 900, 900]}]})
PLAN = json.dumps({"steps": [{"instruction": "add a cup", "action": "add", "region": "the table",
                              "prompt": "a red cup"}]})
IMAGES = images()
MASKS = masks()
FEW_MASKS = ("same size", "other size 7x5", "empty", "batch 2", "NaN/inf", "bad 1x2x3x4")


@pytest.fixture(scope="module")
def grounded(comfy_host, tiny):
    (sam,) = node(comfy_host, "GenAssist_LoadSAM")(tiny.sam(), "auto", False)
    with ScriptedOpenAIServer(BOX) as server:
        mllm = server_mllm(comfy_host, server, stream=False)
        (segmenter,) = node(comfy_host, "GenAssist_GroundedSegmenter")(mllm, sam, "0-1000", 256, 0)
        yield segmenter


@pytest.fixture(scope="module")
def inpaint_parts(comfy_host, tiny):
    return node(comfy_host, "CheckpointLoaderSimple")(tiny.sd15_inpaint())


def _batch(image) -> int:
    return image.shape[0] if image.dim() == 4 else 1


@pytest.mark.slow
def test_restore_matrix(comfy_host, tiny, tally):
    (restorer,) = node(comfy_host, "GenAssist_LoadDiffRIR")(tiny.diffrir(scale=1), "auto")
    restore = node(comfy_host, "GenAssist_Restore")
    reference = IMAGES["24x32"]
    combos = [(i, "24x32", m) for i, m in itertools.product(IMAGES, FEW_MASKS)]
    combos += [("24x32", r, "other size 7x5") for r in IMAGES if r != "24x32"]
    for i, r, m in combos:
        image, reference = IMAGES[i], IMAGES[r]
        result = outcome(tally, "Restore", ("image", "reference", "mask"), restore, restorer, image, reference,
                         MASKS[m], seed=0, tile_size=0, tile_overlap=0)
        if result is not None:
            assert result[0].shape == (max(_batch(image), _batch(reference)), *reference.shape[-3:-1], 3), (i, r, m)


@pytest.mark.slow
def test_segment_matrix(comfy_host, tiny, tally, grounded):
    (lisa,) = node(comfy_host, "GenAssist_LoadLISA")(tiny.lisa(), "clip-vit-large-patch14", "auto", "none", 16,
                                                          False)
    segment = node(comfy_host, "GenAssist_Segment")
    lisa_images = ("1x1 px", "8x4096 thin", "RGBA", "NaN/inf", "2 channels")  # LISA is the slow one
    combos = [("grounded SAM", grounded, i) for i in IMAGES] + [("LISA", lisa, i) for i in lisa_images]
    for name, segmenter, i in combos:
        image = IMAGES[i]
        result = outcome(tally, f"Segment ({name})", ("image",), segment, segmenter, image, "the cup", "union", 2, 2)
        if result is not None:
            mask, _, preview = result
            assert mask.shape == (_batch(image), *image.shape[-3:-1]) and preview.shape[-1] == 3, (name, i)


@pytest.mark.slow
def test_apply_edit_plan_matrix(comfy_host, tally, grounded, inpaint_parts):
    (plan,) = node(comfy_host, "GenAssist_EditPlanFromJSON")(PLAN)
    model, clip, vae = inpaint_parts
    apply = node(comfy_host, "GenAssist_ApplyEditPlan")
    for name in ("24x32", "1x1 px", "8x4096 thin", "RGBA", "1 channel", "no batch dim", "NaN/inf", "2 channels",
                 "empty batch", "5 dims"):
        image = IMAGES[name]
        result = outcome(tally, "Apply Edit Plan", ("image",), apply, image, plan, grounded, model, clip, vae,
                         seed=0, steps=1, cfg=4.0, sampler_name="euler", scheduler="normal", denoise=1.0,
                         context_px=8, resolution=64, grow_px=2, feather_px=2, harmonize=True, negative="")
        if result is not None:
            assert result[0].shape == (_batch(image), *image.shape[-3:-1], 3), name


@pytest.mark.slow
def test_expand_canvas_matrix(comfy_host, tally, inpaint_parts):
    from genassist.canvas.layout import layout_tiles

    model, clip, vae = inpaint_parts
    expand = node(comfy_host, "GenAssist_ExpandCanvas")
    plan = layout_tiles(32, 24, 16, 0, 0, 0, tile_size=32, overlap=0, global_caption="a table")  # one tile
    for name in ("NaN/inf", "RGBA", "1x1 px", "4096x8 tall", "2 channels", "empty batch"):
        image = IMAGES[name]
        result = outcome(tally, "Expand Canvas", ("image",), expand, image, plan, model, clip, vae, 0, 1, 4.0,
                         "euler", "normal", 1.0, 4, True)
        if result is not None:
            assert result[0].shape == (_batch(image), 24, 48, 3), name


def _conditionings(width: int) -> dict:
    """Expand Canvas's optional CONDITIONING: the text conditioning's width is `width` (768 for SD1.5)."""
    def entry(*shape, **extras):
        return [torch.rand(*shape, generator=torch.Generator().manual_seed(sum(shape))), extras]

    nan = entry(1, 4, width)
    nan[0][0, 1, 2], nan[0][0, 2, 3] = float("nan"), float("inf")
    return {
        "77 tokens": ([entry(1, 77, width)], 1), "5 tokens": ([entry(1, 5, width)], 1),
        "two entries, pooled": ([entry(1, 77, width), entry(1, 154, width, pooled_output=torch.rand(1, 8))], 1),
        "batch 3 per image": ([entry(3, 77, width, pooled_output=torch.rand(3, 8))], 3),
        "batch 2 for 1 image": ([entry(2, 77, width)], 1), "SDXL width 2048": ([entry(1, 77, 2048)], 1),
        "rank 2": ([[torch.rand(77, width), {}]], 1), "rank 4": ([entry(1, 1, 77, width)], 1),
        "0 tokens": ([[torch.zeros(1, 0, width), {}]], 1), "NaN/inf": ([nan], 1), "empty list": ([], 1),
        "bare tensor": (torch.rand(1, 77, width), 1), "pair without dict": ([[torch.rand(1, 77, width)]], 1),
    }


@pytest.mark.slow
def test_expand_canvas_conditioning_matrix(comfy_host, tally, inpaint_parts):
    from genassist.canvas.layout import layout_tiles

    model, clip, vae = inpaint_parts
    (text,) = node(comfy_host, "CLIPTextEncode")(clip=clip, text="a table")
    width = text[0][0].shape[-1]
    expand = node(comfy_host, "GenAssist_ExpandCanvas")
    plan = layout_tiles(32, 24, 16, 0, 0, 0, tile_size=32, overlap=0, global_caption="a table")  # one tile
    worked = []
    for name, (conditioning, batch) in _conditionings(width).items():
        image = IMAGES["24x32"].repeat(batch, 1, 1, 1)
        result = outcome(tally, "Expand Canvas (conditioning)", ("conditioning",), expand, image, plan, model, clip,
                         vae, 0, 1, 4.0, "euler", "normal", 1.0, 4, True, conditioning=conditioning)
        if result is not None:
            assert result[0].shape == (batch, 24, 48, 3), name
            worked.append(name)
    assert worked == ["77 tokens", "5 tokens", "two entries, pooled", "batch 3 per image"]
