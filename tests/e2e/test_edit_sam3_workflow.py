"""The shipped SAM 3 complex-edit workflow through the real ComfyUI server with tiny models (a SAM 3 folder,
SD1.5-inpainting); a scripted OpenAI-compatible server plays the planning MLLM. SAM 3 localizes every step
from the region phrase alone: the MLLM is asked once, for the plan."""

import io
import json
from pathlib import Path

import numpy as np
import pytest
import transformers  # noqa: E402  (a hard dependency: never skipped for being absent)
from PIL import Image

from harness.openai_server import ScriptedOpenAIServer
from harness.workflow import ui_to_api

if not hasattr(transformers, "Sam3Model"):
    pytest.skip(f"SAM 3 needs transformers >= 5.0 (this is {transformers.__version__})", allow_module_level=True)

WORKFLOW = Path(__file__).resolve().parents[2] / "example_workflows" / "edit_plan_sam3.json"
PHOTO = "genassist_edit_photo.png"
WIDTH, HEIGHT = 128, 96
PLAN = {"steps": [
    {"instruction": "keep only one vase of flowers", "action": "remove", "region": "the second vase",
     "prompt": "the bare wooden table top"},
    {"instruction": "add a bottle of beer", "action": "add", "region": "the left part of the table",
     "prompt": "a brown glass bottle of beer with a white label"},
]}


@pytest.fixture(scope="module")
def photo(comfy_server, tmp_path_factory):
    rng = np.random.RandomState(21)
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[:] = (200, 210, 220)
    pixels[45:] = (140, 90, 50)
    pixels[30:70, 40:62] = (40, 60, 160)
    pixels = np.clip(pixels + rng.randint(0, 25, pixels.shape), 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("edit_sam3") / PHOTO
    Image.fromarray(pixels).save(path)
    comfy_server.upload_image(path)
    return pixels


def node_of(graph, class_type, title=None):
    return next(i for i, n in graph.items() if n["class_type"] == class_type
                and (title is None or n.get("_meta", {}).get("title") == title))


def saved(comfy_server, entry, graph, prefix) -> list[np.ndarray]:
    node = next(i for i, n in graph.items() if n["class_type"] == "SaveImage" and n["inputs"]["filename_prefix"] == prefix)
    return [np.asarray(Image.open(io.BytesIO(comfy_server.view(info))).convert("RGB")).astype(int)
            for info in entry["outputs"][node]["images"]]


@pytest.fixture(scope="module")
def run(comfy_server, tiny, photo):
    assert tiny.sam3() == "sam3" and tiny.sd15_inpaint() == "sd-v1-5-inpainting.safetensors"
    ui = json.loads(WORKFLOW.read_text())
    graph = ui_to_api(ui, comfy_server.object_info())
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
    log = entry["outputs"][node_of(graph, "PreviewAny", "Step log")]["text"][0]
    for index, step in enumerate(PLAN["steps"]):
        assert f"step {index + 1}/2 [{step['action']}] {step['instruction']}" in log and step["prompt"] in log
    assert "SKIPPED" not in log
    masks = saved(comfy_server, entry, graph, "sam3_masks")
    assert len(masks) == 2 and all(m.shape == (HEIGHT, WIDTH, 3) and 0 < (m[..., 0] > 0).mean() < 1 for m in masks)


def test_pixels_outside_the_masks_are_unchanged(comfy_server, run):
    entry, graph, _ = run
    original = saved(comfy_server, entry, graph, "sam3_input")[0]
    final = saved(comfy_server, entry, graph, "edit_plan")[0]
    union = np.any([m[..., 0] > 0 for m in saved(comfy_server, entry, graph, "sam3_masks")], axis=0)
    assert np.array_equal(final[~union], original[~union])
    assert np.abs(final[union] - original[union]).max() > 20
