"""Shape matrix of the weight-free and MLLM-prompting nodes (MLLM: a scripted OpenAI server): every IMAGE
and MASK input of every awkward shape either works or fails naming the input and the shapes."""

import itertools
import json

import pytest
import torch

from harness.inprocess import node, server_mllm
from harness.openai_server import ScriptedOpenAIServer
from harness.shapes import ORDINARY_IMAGES, ORDINARY_MASKS, SIDE, images, masks, outcome

PLAN = json.dumps({"steps": [{"instruction": "add a cat", "action": "add", "region": "the sofa",
                              "prompt": "a grey cat sleeping on the sofa"}]})


@pytest.fixture(scope="module")
def mllm(comfy_host):
    def reply(request):
        return PLAN if "Plan how to edit" in json.dumps(request) else "A red fox in the snow."

    with ScriptedOpenAIServer(reply) as server:
        handle = server_mllm(comfy_host, server, stream=False)
        yield handle


REFERENCES = ("24x32", "2 channels")
MASKS = ("same size", "other size 7x5", "empty", "full", "batch 2", "NaN/inf", "[B,1,H,W]", "bad 1x2x3x4")
ODD_REFERENCES = ("1x1 px", "8x4096 thin", "4096x8 tall", "RGBA", "1 channel", "NaN/inf", "no batch dim",
                  "empty batch", "5 dims")


def _harmonize(tally, harmonize, image, reference, mask, must_work=False):
    result = outcome(tally, "Harmonize Seams", ("image", "reference", "mask"), harmonize, image, reference, mask,
                     seam_width=4, must_work=must_work)
    if result is not None:
        batch = max(image.shape[0] if image.dim() == 4 else 1, reference.shape[0] if reference.dim() == 4 else 1)
        assert result[0].shape == (batch, *reference.shape[-3:-1], 3)


@pytest.mark.slow
def test_harmonize_seams_matrix(comfy_host, tally):
    """Every image against ordinary references and masks, then every odd reference (sampling each
    combination is slow on CPU: the odd references get one image and one mask)."""
    harmonize = node(comfy_host, "GenAssist_HarmonizeSeams")
    image_set, mask_set = images(), masks()
    for i, r, m in itertools.product(image_set, REFERENCES, MASKS):
        ordinary = i in ORDINARY_IMAGES and r in ORDINARY_IMAGES and m in ORDINARY_MASKS
        _harmonize(tally, harmonize, image_set[i], image_set[r], mask_set[m], must_work=ordinary)
    for i, m in itertools.product(image_set, ("same size", "batch 2", "batch 3")):
        _harmonize(tally, harmonize, image_set[i], image_set["batch 3"], mask_set[m])
    for r in ODD_REFERENCES:
        _harmonize(tally, harmonize, image_set["24x32"], image_set[r], mask_set["other size 7x5"])


def test_refine_prompt_matrix(comfy_host, tally, mllm):
    refine = node(comfy_host, "GenAssist_RefinePrompt")
    for (i, image), (m, mask) in itertools.product(images().items(), masks().items()):
        result = outcome(tally, "Refine Prompt", ("image", "mask"), refine, mllm, "inpaint", "a fox", 0, 64, 0.2,
                         image=image, mask=mask, must_work=i in ORDINARY_IMAGES and m in ORDINARY_MASKS)
        if result is not None:  # one prompt per image, never a dropped batch item
            assert len(result[0]) == (image.shape[0] if image.dim() == 4 else 1), (i, m)


@pytest.mark.parametrize("node_id, title, call", [
    ("GenAssist_ExpressiveInstruction", "Expressive Instruction",
     lambda n, mllm, image: n(mllm, image, "make it snowy", 0, 64, 0.2)),
    ("GenAssist_PlanEdit", "Plan Edit", lambda n, mllm, image: n(mllm, image, "add a cat", 0, 4, 256, 0.2)),
    ("GenAssist_PlanCanvas", "Plan Canvas",
     lambda n, mllm, image: n(mllm, image, "a snowy field", 16, 0, 0, 8, 64, 0, 0)),
])
def test_image_prompting_nodes_matrix(comfy_host, tally, mllm, node_id, title, call):
    instance = node(comfy_host, node_id)
    for name, image in images().items():
        outcome(tally, title, ("image",), call, instance, mllm, image, must_work=name in ORDINARY_IMAGES)


def test_mask_helper_names_both_shapes():
    from genassist.nodes._tensors import mask_for

    with pytest.raises(ValueError, match=r"mask holds 2 masks \(2x24x32\) but the image batch is 3 \(3x24x32x3\)"):
        mask_for(torch.zeros(3, *SIDE, 3), torch.zeros(2, *SIDE))


def test_a_runaway_text_input_is_refused_naming_the_limit(comfy_host, mllm):
    with pytest.raises(ValueError, match=r"at most 200000, MAX_PROMPT_CHARS"):
        node(comfy_host, "GenAssist_PlanEdit")(mllm, images()["24x32"], "add a cat " * 30_000, 0, 4, 256, 0.2)
