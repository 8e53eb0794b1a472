"""The shipped complex-edit workflows run through the real ComfyUI server with tiny models (SD1.5-inpainting,
SAM, LISA); a scripted OpenAI-compatible server plays the MLLM: it answers the plan, then one box per step."""

import base64
import io
import json
import re

import numpy as np
import pytest
from PIL import Image

from harness.graphs import load_example, node_of, preview_text, saved_pixels
from harness.openai_server import ScriptedOpenAIServer

PHOTO = "genassist_edit_photo.png"
WIDTH, HEIGHT = 128, 96
PLAN = {"steps": [
    {"instruction": "place a glass of soda on the table", "action": "add", "region": "the right part of the table",
     "prompt": "a tall clear glass of dark soda with ice cubes, standing on a wooden table"},
    {"instruction": "keep only one vase of flowers", "action": "remove", "region": "the second vase",
     "prompt": "the bare wooden table top"},
    {"instruction": "add a bottle of beer", "action": "add", "region": "the left part of the table",
     "prompt": "a brown glass bottle of beer with a white label"},
]}
BOXES = {  # 0-1000, as asked of a server model
    "the right part of the table": (560, 450, 900, 900),
    "the second vase": (300, 300, 520, 700),
    "the left part of the table": (80, 420, 380, 880),
}
QUERY = re.compile(r"Request: (.*)\n")


@pytest.fixture(scope="module")
def models(tiny):
    assert tiny.sam() == "sam_vit_h_4b8939.pth"
    assert tiny.sam(name="sam_vit_b_01ec64.safetensors") == "sam_vit_b_01ec64.safetensors"  # the examples' file
    assert tiny.sd15_inpaint() == "sd-v1-5-inpainting.safetensors"


def upload_table_photo(comfy_server, folder) -> np.ndarray:
    """A vase on a table before a pale wall, with noise (so that no region is flat), uploaded as PHOTO."""
    rng = np.random.RandomState(21)
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[:] = (200, 210, 220)
    pixels[45:] = (140, 90, 50)  # a table
    pixels[30:70, 40:62] = (40, 60, 160)  # a vase
    pixels = np.clip(pixels + rng.randint(0, 25, pixels.shape), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(folder / PHOTO)
    comfy_server.upload_image(folder / PHOTO)
    return pixels


@pytest.fixture(scope="module")
def photo(comfy_server, tmp_path_factory):
    return upload_table_photo(comfy_server, tmp_path_factory.mktemp("edit"))


def request_text(request) -> str:
    parts = []
    for message in request.json["messages"]:
        content = message["content"]
        parts += [content] if isinstance(content, str) else [p.get("text", "") for p in content]
    return "\n".join(parts)


def request_image(request) -> np.ndarray:
    for message in request.json["messages"]:
        for part in message["content"] if isinstance(message["content"], list) else []:
            if part.get("type") == "image_url":
                data = part["image_url"]["url"].split(",", 1)[1]
                return np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")).astype(int)
    raise AssertionError("the request carries no image")


def mllm(plan, boxes=BOXES):
    """The scripted MLLM: the plan for the planning request, a box (or nothing) for each grounding request."""
    def reply(request):
        text = request_text(type("R", (), {"json": request})())
        if "Plan how to edit" in text:
            return json.dumps(plan)
        query = QUERY.search(text).group(1).strip()
        box = boxes.get(query)
        objects = [{"label": query, "box": list(box)}] if box else []
        return json.dumps({"explanation": f"looked for {query}", "objects": objects})
    return reply


def cpu_sized(graph, base_url=None):
    """The shipped graph with small sampling settings, extra outputs to compare pixels, and the scripted server.
    grow/feather 0: the random-weight SAM answers speckled masks that any growth would spread over the whole
    image (the grow/feather reach is checked in tests/unit/test_edit_apply.py and tests/host/)."""
    if base_url is not None:
        graph[node_of(graph, "GenAssist_MLLMServer")]["inputs"]["base_url"] = base_url
    apply = node_of(graph, "GenAssist_ApplyEditPlan")
    graph[apply]["inputs"].update(steps=2, resolution=64, context_px=8, grow_px=0, feather_px=0)
    image = graph[apply]["inputs"]["image"]
    graph["orig"] = {"class_type": "SaveImage", "inputs": {"images": image, "filename_prefix": "edit_input"}}
    graph["steps"] = {"class_type": "SaveImage", "inputs": {"images": [apply, 1], "filename_prefix": "edit_steps"}}
    graph["m2i"] = {"class_type": "MaskToImage", "inputs": {"mask": [apply, 2]}}
    graph["masks"] = {"class_type": "SaveImage", "inputs": {"images": ["m2i", 0], "filename_prefix": "edit_masks"}}
    return graph


@pytest.fixture(scope="module")
def planned_run(comfy_server, models, photo):
    ui, graph = load_example("edit_plan_server_sam.json", comfy_server)
    with ScriptedOpenAIServer(mllm(PLAN)) as server:
        graph = cpu_sized(graph, server.base_url)
        entry = comfy_server.run(graph, timeout=1200, workflow=ui)
        requests = list(server.requests)
    return entry, graph, requests


def test_steps_run_in_order_each_localized_on_the_previous_output(comfy_server, planned_run, photo):
    entry, graph, requests = planned_run
    assert "Plan how to edit" in request_text(requests[0])
    queries = [QUERY.search(request_text(r)).group(1).strip() for r in requests[1:]]
    assert queries == [step["region"] for step in PLAN["steps"]]
    steps = saved_pixels(comfy_server, entry, graph, "edit_steps")
    assert len(steps) == 3
    assert np.abs(request_image(requests[1]) - photo).max() <= 1  # step 1 sees the input
    step2_sees = request_image(requests[2])
    assert np.abs(step2_sees - steps[0]).max() <= 1  # step 2 sees step 1's output ...
    assert np.abs(step2_sees - photo).max() > 20  # ... which is not the original
    assert np.abs(request_image(requests[3]) - steps[1]).max() <= 1
    final = saved_pixels(comfy_server, entry, graph, "edit_plan")[0]
    assert np.array_equal(final, steps[2])
    log = preview_text(entry, graph, "Step log")
    for index, step in enumerate(PLAN["steps"]):
        assert f"step {index + 1}/3 [{step['action']}] {step['instruction']}" in log and step["prompt"] in log
    assert "SKIPPED" not in log


def test_pixels_outside_the_grown_union_are_bit_identical(comfy_server, planned_run):
    entry, graph, _ = planned_run
    original = saved_pixels(comfy_server, entry, graph, "edit_input")[0]
    final = saved_pixels(comfy_server, entry, graph, "edit_plan")[0]
    masks = saved_pixels(comfy_server, entry, graph, "edit_masks")
    union = np.any([m[..., 0] > 0 for m in masks], axis=0)
    assert 0 < union.mean() < 0.9
    assert np.array_equal(final[~union], original[~union])
    assert np.abs(final[union] - original[union]).max() > 20


def test_plan_json_round_trip_gives_the_same_image(comfy_server, planned_run):
    entry, graph, _ = planned_run
    plan_json = preview_text(entry, graph, "Plan JSON")
    assert json.loads(plan_json) == PLAN
    replayed = json.loads(json.dumps(graph))
    planner = node_of(replayed, "GenAssist_PlanEdit")
    replayed[planner] = {"class_type": "GenAssist_EditPlanFromJSON", "inputs": {"plan_json": plan_json}}
    with ScriptedOpenAIServer(mllm(PLAN)) as server:
        replayed[node_of(replayed, "GenAssist_MLLMServer")]["inputs"]["base_url"] = server.base_url
        again = comfy_server.run(replayed, timeout=1200)
        assert all("Plan how to edit" not in request_text(r) for r in server.requests)
        assert len(server.requests) == 3
    assert np.array_equal(saved_pixels(comfy_server, again, replayed, "edit_plan")[0],
                          saved_pixels(comfy_server, entry, graph, "edit_plan")[0])


def test_empty_plan_returns_the_input_unchanged(comfy_server, models, photo):
    _, graph = load_example("edit_plan_server_sam.json", comfy_server)
    with ScriptedOpenAIServer(mllm({"steps": []})) as server:
        graph = cpu_sized(graph, server.base_url)
        graph[node_of(graph, "GenAssist_PlanEdit")]["inputs"]["instruction"] = "leave it as it is"
        entry = comfy_server.run(graph, timeout=900)
        assert len(server.requests) == 1
    assert np.array_equal(saved_pixels(comfy_server, entry, graph, "edit_plan")[0],
                          saved_pixels(comfy_server, entry, graph, "edit_input")[0])
    assert "empty plan" in preview_text(entry, graph, "Step log")


def test_a_region_not_found_is_skipped_and_logged_and_the_next_step_runs(comfy_server, models, photo):
    _, graph = load_example("edit_plan_server_sam.json", comfy_server)
    plan = {"steps": PLAN["steps"][1:]}  # the vase is not found; the beer still gets added
    boxes = {k: v for k, v in BOXES.items() if k != "the second vase"}
    with ScriptedOpenAIServer(mllm(plan, boxes)) as server:
        graph = cpu_sized(graph, server.base_url)
        entry = comfy_server.run(graph, timeout=1200)
        assert len(server.requests) == 3
    log = preview_text(entry, graph, "Step log").splitlines()
    assert "SKIPPED" in log[0] and "'the second vase' not found" in log[0] and "looked for the second vase" in log[0]
    assert "SKIPPED" not in log[1] and "% of the image" in log[1]
    original = saved_pixels(comfy_server, entry, graph, "edit_input")[0]
    steps = saved_pixels(comfy_server, entry, graph, "edit_steps")
    masks = saved_pixels(comfy_server, entry, graph, "edit_masks")
    assert np.array_equal(steps[0], original) and masks[0].max() == 0
    assert not np.array_equal(steps[1], original) and masks[1].max() > 0


def test_shipped_lisa_workflow_runs_with_a_json_plan(comfy_server, models, photo, tiny):
    assert tiny.lisa() == "LISA-7B-v1"
    ui, graph = load_example("edit_plan_lisa.json", comfy_server)
    assert graph[node_of(graph, "GenAssist_LoadLISA")]["inputs"]["model"] == "LISA-7B-v1"
    # the tiny random-weight planner cannot write a plan: the plan comes from JSON, the rest runs as shipped
    one_step = {"steps": PLAN["steps"][:1]}  # one step keeps the CPU run short; the loop is tested above
    graph[node_of(graph, "GenAssist_PlanEdit")] = {"class_type": "GenAssist_EditPlanFromJSON",
                                                   "inputs": {"plan_json": json.dumps(one_step)}}
    del graph[node_of(graph, "GenAssist_LoadMLLM")]
    graph = cpu_sized(graph)
    entry = comfy_server.run(graph, timeout=1200)
    final = saved_pixels(comfy_server, entry, graph, "edit_plan")[0]
    assert final.shape == (HEIGHT, WIDTH, 3)
    assert len(saved_pixels(comfy_server, entry, graph, "edit_steps")) == 1
    log = preview_text(entry, graph, "Step log")
    assert log.startswith("step 1/1 [add] place a glass of soda on the table | region: 'the right part of the table'")
