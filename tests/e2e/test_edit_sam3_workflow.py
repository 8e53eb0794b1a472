"""The shipped SAM 3 complex-edit workflow through the real ComfyUI server with tiny models (a SAM 3 folder,
SD1.5-inpainting); a scripted OpenAI-compatible server plays the planning MLLM. SAM 3 localizes every step
from the region phrase alone: the MLLM is asked once, for the plan."""

import json

import numpy as np
import pytest
import transformers  # noqa: E402  (a hard dependency: never skipped for being absent)
from test_edit_workflows import HEIGHT, WIDTH, upload_table_photo

from harness.graphs import load_example, node_of, preview_text, saved_pixels
from harness.openai_server import ScriptedOpenAIServer

if not hasattr(transformers, "Sam3Model"):
    pytest.skip(f"SAM 3 needs transformers >= 5.0 (this is {transformers.__version__})", allow_module_level=True)

PLAN = {"steps": [
    {"instruction": "keep only one vase of flowers", "action": "remove", "region": "the second vase",
     "prompt": "the bare wooden table top"},
    {"instruction": "add a bottle of beer", "action": "add", "region": "the left part of the table",
     "prompt": "a brown glass bottle of beer with a white label"},
]}


@pytest.fixture(scope="module")
def photo(comfy_server, tmp_path_factory):
    return upload_table_photo(comfy_server, tmp_path_factory.mktemp("edit_sam3"))


@pytest.fixture(scope="module")
def run(comfy_server, tiny, photo):
    assert tiny.sam3() == "sam3" and tiny.sd15_inpaint() == "sd-v1-5-inpainting.safetensors"
    ui, graph = load_example("edit_plan_sam3.json", comfy_server)
    loader = graph[node_of(graph, "GenAssist_LoadSAM3")]["inputs"]
    assert loader["model"] == "sam3" and loader["score_threshold"] == 0.5 and loader["query"] == "noun phrase"
    loader["score_threshold"] = 0.0  # random weights: keep every query so each step has a region
    apply = node_of(graph, "GenAssist_ApplyEditPlan")
    graph[apply]["inputs"].update(steps=2, resolution=64, context_px=8, grow_px=0, feather_px=0)
    graph["orig"] = {"class_type": "SaveImage", "inputs": {"images": graph[apply]["inputs"]["image"],
                                                           "filename_prefix": "sam3_input"}}
    graph["steps"] = {"class_type": "SaveImage", "inputs": {"images": [apply, 1], "filename_prefix": "sam3_steps"}}
    graph["m2i"] = {"class_type": "MaskToImage", "inputs": {"mask": [apply, 2]}}
    graph["masks"] = {"class_type": "SaveImage", "inputs": {"images": ["m2i", 0], "filename_prefix": "sam3_masks"}}
    with ScriptedOpenAIServer(lambda request: json.dumps(PLAN)) as server:
        graph[node_of(graph, "GenAssist_MLLMServer")]["inputs"]["base_url"] = server.base_url
        entry = comfy_server.run(graph, timeout=1200, workflow=ui)
        requests = list(server.requests)
    return entry, graph, requests


def test_the_mllm_plans_once_and_sam3_localizes_every_step(comfy_server, run):
    entry, graph, requests = run
    assert len(requests) == 1  # the plan; no grounding round trip per step
    log = preview_text(entry, graph, "Step log")
    for index, step in enumerate(PLAN["steps"]):
        assert f"step {index + 1}/2 [{step['action']}] {step['instruction']}" in log and step["prompt"] in log
    assert "SKIPPED" not in log
    masks = saved_pixels(comfy_server, entry, graph, "sam3_masks")
    assert len(masks) == 2 and all(m.shape == (HEIGHT, WIDTH, 3) and 0 < (m[..., 0] > 0).mean() < 1 for m in masks)


def test_pixels_outside_the_masks_are_unchanged(comfy_server, run):
    entry, graph, _ = run
    original = saved_pixels(comfy_server, entry, graph, "sam3_input")[0]
    final = saved_pixels(comfy_server, entry, graph, "edit_plan")[0]
    union = np.any([m[..., 0] > 0 for m in saved_pixels(comfy_server, entry, graph, "sam3_masks")], axis=0)
    assert np.array_equal(final[~union], original[~union])
    assert np.abs(final[union] - original[union]).max() > 20
