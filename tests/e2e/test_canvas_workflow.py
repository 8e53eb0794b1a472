"""The shipped infinite-canvas workflow through the real ComfyUI server: the tiny SD1.5-inpainting
checkpoint, the scripted OpenAI-compatible server as the MLLM (planning, then live captions). Sizes shrunk for CPU: a 64 px photo,
16 px added left and below, 32 px windows (5 tiles), 2 sampler steps; everything else as shipped."""

import json
import re

import numpy as np
import pytest
from PIL import Image

from harness.graphs import load_example, node_of, pixels, saved_image, scripted_mllm
from harness.openai_server import ScriptedOpenAIServer

PHOTO = "genassist_canvas_photo.png"
SIZE, LEFT, BOTTOM = 64, 16, 16
GROWS = {"left": "to the left", "right": "to the right", "up": "upwards", "down": "downwards"}


def photo() -> np.ndarray:
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    rgb = np.stack([60 + 3 * xx, 90 + 2 * yy, 220 - xx - yy], -1)
    return np.clip(rgb + (9 * np.sin(xx / 3.0) * np.cos(yy / 5.0))[..., None], 0, 255).astype(np.uint8)


def user_text(body: dict) -> str:
    content = body["messages"][-1]["content"]
    return content if isinstance(content, str) else next(p["text"] for p in content if p["type"] == "text")


def reply(body: dict) -> str:
    """A caption naming the tile's rectangle; the source's description; the global caption."""
    text = user_text(body)
    found = re.search(r"at x (\d+) to \d+, y (\d+) to \d+", text)
    if found:
        return f"tile at {found.group(1)},{found.group(2)}"
    return "A red kite over a meadow." if text.startswith("Describe") else "A windy meadow with kites at noon."


def cpu_sized(graph: dict, base_url: str) -> dict:
    graph[node_of(graph, "GenAssist_LoadMLLM")] = scripted_mllm(base_url)
    graph[node_of(graph, "GenAssist_PlanCanvas")]["inputs"].update(
        left=LEFT, top=0, right=0, bottom=BOTTOM, tile_size=32, overlap=0)
    graph[node_of(graph, "GenAssist_ExpandCanvas")]["inputs"].update(steps=2)
    graph[node_of(graph, "LoadImage")]["inputs"]["image"] = PHOTO
    # the MASK output, saved so the test can read it
    graph["mask_image"] = {"class_type": "MaskToImage",
                           "inputs": {"mask": [node_of(graph, "GenAssist_ExpandCanvas"), 1]}}
    graph["mask_save"] = {"class_type": "SaveImage", "inputs": {"images": ["mask_image", 0],
                                                                 "filename_prefix": "canvas_mask"}}
    return graph


@pytest.fixture(scope="module")
def shipped_run(comfy_server, tiny, tmp_path_factory):
    assert tiny.sd15_inpaint() == "sd-v1-5-inpainting.safetensors"
    path = tmp_path_factory.mktemp("canvas") / PHOTO
    Image.fromarray(photo(), "RGB").save(path)
    comfy_server.upload_image(path)
    ui, graph = load_example("canvas_expand_sd15.json", comfy_server)
    with ScriptedOpenAIServer(reply) as server:
        graph = cpu_sized(graph, server.base_url)
        entry = comfy_server.run(graph, timeout=1200, workflow=ui)
    expand = node_of(graph, "GenAssist_ExpandCanvas")
    plan_preview = next(i for i, n in graph.items() if n["class_type"] == "PreviewAny"
                        and n["inputs"]["source"][0] == node_of(graph, "GenAssist_PlanCanvas"))
    used_preview = next(i for i, n in graph.items() if n["class_type"] == "PreviewAny"
                        and n["inputs"]["source"][0] == expand)
    return {"ui": ui, "graph": graph, "entry": entry, "requests": [r.json for r in server.requests],
            "image": pixels(saved_image(comfy_server, entry, graph, "canvas_expand")),
            "mask": pixels(saved_image(comfy_server, entry, graph, "canvas_mask")),
            "plan": json.loads(entry["outputs"][plan_preview]["text"][0]),
            "used": json.loads(entry["outputs"][used_preview]["text"][0])}


def test_output_has_the_planned_size_and_the_photo_untouched(shipped_run):
    image, plan = shipped_run["image"], shipped_run["plan"]
    assert (plan["width"], plan["height"]) == (SIZE + LEFT, SIZE + BOTTOM)
    assert image.shape == (plan["height"], plan["width"], 3)
    src = plan["source"]
    assert (src["x"], src["y"], src["width"], src["height"]) == (LEFT, 0, SIZE, SIZE)
    assert np.array_equal(image[0:SIZE, LEFT:LEFT + SIZE], photo()), "source pixels must be bit-identical"
    assert image[SIZE:, :LEFT].std() > 0


def test_every_new_pixel_is_generated_by_exactly_one_tile(shipped_run):
    plan, used, mask = shipped_run["plan"], shipped_run["used"], shipped_run["mask"]
    counts = np.zeros((plan["height"], plan["width"]), int)
    for tile in used["tiles"]:
        counts[tile["y"]:tile["y"] + tile["height"], tile["x"]:tile["x"] + tile["width"]] += 1
    in_source = np.zeros_like(counts, dtype=bool)
    in_source[0:SIZE, LEFT:LEFT + SIZE] = True
    assert (counts[~in_source] == 1).all(), "a gap or a pixel generated twice"
    assert (counts[in_source] == 0).all()
    assert len(used["tiles"]) == 5
    # the node's MASK output (1 = generated) is exactly the tiles' cover
    assert np.array_equal(mask[..., 0] == 255, counts == 1) and set(np.unique(mask)) == {0, 255}


def test_each_tile_request_carries_global_caption_direction_and_neighbours(shipped_run):
    plan, requests = shipped_run["plan"], shipped_run["requests"]
    assert plan["global_caption"] == "A windy meadow with kites at noon."
    assert plan["source"]["caption"] == "A red kite over a meadow."
    count = len(plan["tiles"])
    # describe, imagine, summarise, one per tile in plan order; then Expand Canvas's live caption per tile
    tile_requests, live_requests = requests[3:3 + count], requests[3 + count:]
    assert len(tile_requests) == count and len(live_requests) == count
    src = plan["source"]

    def borders(a, b) -> bool:
        rows = a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]
        cols = a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
        return (rows and (a["x"] == b["x"] + b["width"] or b["x"] == a["x"] + a["width"])) or (
            cols and (a["y"] == b["y"] + b["height"] or b["y"] == a["y"] + a["height"]))

    for index, (tile, body) in enumerate(zip(plan["tiles"], tile_requests)):
        text = user_text(body)
        assert f'"{plan["global_caption"]}"' in text, index
        assert f"grows {GROWS[tile['direction']]}" in text, index
        assert f"at x {tile['x']} to {tile['x'] + tile['width']}, y {tile['y']}" in text, index
        assert tile["caption"] == f"tile at {tile['x']},{tile['y']}"
        earlier = [t for t in plan["tiles"][:index] if borders(tile, t)]
        assert earlier or borders(tile, src), f"tile {index} borders nothing known"
        for other in earlier:
            assert f'"{other["caption"]}"' in text, (index, other)
        assert ('(the original image): "A red kite over a meadow."' in text) == borders(tile, src), index
    for tile, body in zip(plan["tiles"], live_requests):  # live captions see the canvas painted so far
        content = body["messages"][-1]["content"]
        assert [p["type"] for p in content] == ["text", "image_url"]
        assert f'The plan proposed: "{tile["caption"]}"' in content[0]["text"]
    assert any(len([t for t in plan["tiles"][:i] if borders(tile, t)]) >= 2
               for i, tile in enumerate(plan["tiles"])), "the corner tile should see two neighbours"


def test_edited_plan_captions_are_used_verbatim(shipped_run, comfy_server):
    plan = shipped_run["plan"]
    edited = json.loads(json.dumps(plan))
    edited["tiles"][1]["caption"] = "EDITED: a (wooden) fence [with gaps], 3 crows"
    edited["tiles"][4]["caption"] = "a puddle reflecting the sky"
    graph = json.loads(json.dumps(shipped_run["graph"]))
    # the plan now comes from Canvas Plan from JSON; the MLLM and Plan Canvas leave the graph
    for class_type in ("GenAssist_MLLMServer", "GenAssist_PlanCanvas"):
        del graph[node_of(graph, class_type)]
    graph = {i: n for i, n in graph.items()
             if not (n["class_type"] == "PreviewAny" and n["inputs"]["source"][0] not in graph)}
    graph["from_json"] = {"class_type": "GenAssist_CanvasPlanFromJSON", "inputs": {"plan_json": json.dumps(edited)}}
    expand = node_of(graph, "GenAssist_ExpandCanvas")
    graph[expand]["inputs"]["canvas_plan"] = ["from_json", 0]
    del graph[expand]["inputs"]["mllm"]  # no live captions: the edited captions verbatim
    entry = comfy_server.run(graph, timeout=1200)
    used = json.loads(next(out["text"][0] for i, out in entry["outputs"].items() if "text" in out))
    assert [t["caption"] for t in used["tiles"]] == [t["caption"] for t in edited["tiles"]]
    image = pixels(saved_image(comfy_server, entry, graph, "canvas_expand"))
    assert np.array_equal(image[0:SIZE, LEFT:LEFT + SIZE], photo())
    # other captions, same seed: the tiles whose caption changed come out different
    first = shipped_run["image"]
    tile = edited["tiles"][1]
    region = (slice(tile["y"], tile["y"] + tile["height"]), slice(tile["x"], tile["x"] + tile["width"]))
    assert not np.array_equal(image[region], first[region])
