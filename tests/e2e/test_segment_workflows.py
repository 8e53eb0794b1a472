"""The shipped reasoning-segmentation -> inpaint workflows run through the real ComfyUI server with tiny
models; a scripted OpenAI-compatible server plays the MLLM, so the resulting mask is checked exactly."""

import json
import re

import numpy as np
import pytest
from PIL import Image

from harness.graphs import grounded_segmenter, load_example, node_of, preview_text, saved_image
from harness.masks import assert_same_mask
from harness.openai_server import ScriptedOpenAIServer

PHOTO = "genassist_segment_photo.png"
WIDTH, HEIGHT = 192, 160  # small: the VAE of the inpainting half dominates CPU time
PASS_LINE = re.compile(r"GenAssist SAM (\S+): image encoder pass")


@pytest.fixture(scope="module")
def models(tiny):
    assert tiny.sam() == "sam_vit_h_4b8939.pth"
    assert tiny.sam(name="sam_vit_b_01ec64.safetensors") == "sam_vit_b_01ec64.safetensors"  # the examples' file
    assert tiny.sd15_inpaint() == "sd-v1-5-inpainting.safetensors"
    assert tiny.lisa() == "LISA-7B-v1"


def photo_pixels(seed=11):
    rng = np.random.RandomState(seed)
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[:] = (90, 140, 200)
    pixels[110:] = (60, 120, 50)
    pixels[60:130, 40:100] = (150, 40, 30)  # something to sit on
    return np.clip(pixels + rng.randint(0, 20, pixels.shape), 0, 255).astype(np.uint8)


def upload(comfy_server, tmp_path, pixels, name=PHOTO):
    Image.fromarray(pixels).save(tmp_path / name)
    comfy_server.upload_image(tmp_path / name)


def official_mask(models_dir, pixels, box):
    from segment_anything import SamPredictor

    from genassist.segmentation.sam_model import load_sam_file

    sam, _ = load_sam_file(str(models_dir / "sams" / "sam_vit_h_4b8939.pth"))
    predictor = SamPredictor(sam)
    predictor.set_image(pixels)
    logits, _, _ = predictor.predict(box=np.array(box), multimask_output=False, return_logits=True)
    return logits[0] > 0


def with_server(graph, base_url, grow=0, feather=0):
    """The shipped graph with the scripted server, exact masks (no grow/feather) and without the inpainting
    half (ComfyUI runs only what an output needs; the shipped-graph tests run that half)."""
    graph[node_of(graph, "GenAssist_MLLMServer")]["inputs"]["base_url"] = base_url
    segment = graph[node_of(graph, "GenAssist_Segment")]["inputs"]
    segment["grow_px"], segment["feather_px"] = grow, feather
    del graph[node_of(graph, "SaveImage", filename_prefix="segment_inpaint")]
    return graph


def boxes_answer(*boxes):
    return json.dumps({"explanation": "an armchair is made for sitting",
                       "objects": [{"label": "armchair", "box": list(b)} for b in boxes]})


def test_grounded_workflow_mask_is_sams_output_for_the_answered_box(comfy_server, models, models_dir, tmp_path):
    pixels = photo_pixels()
    upload(comfy_server, tmp_path, pixels)
    _, graph = load_example("segment_grounded_inpaint.json", comfy_server)
    box = (180, 390, 440, 780)  # 0-1000, as asked of a server model
    with ScriptedOpenAIServer(boxes_answer(box)) as server:
        entry = comfy_server.run(with_server(graph, server.base_url), timeout=900)
    assert "0 to 1000" in server.requests[0].json["messages"][0]["content"][0]["text"]
    expected = official_mask(models_dir, pixels, (box[0] * WIDTH / 1000, box[1] * HEIGHT / 1000,
                                                  box[2] * WIDTH / 1000, box[3] * HEIGHT / 1000))
    mask = np.asarray(saved_image(comfy_server, entry, graph, "segment_mask").convert("L")) > 127
    assert mask.shape == (HEIGHT, WIDTH) and 0 < expected.mean() < 1
    assert_same_mask(mask, expected)
    assert "an armchair is made for sitting" in preview_text(entry, graph)


def test_shipped_grounded_workflow_runs_unmodified_but_for_the_server(comfy_server, models, tmp_path):
    upload(comfy_server, tmp_path, photo_pixels())
    ui, graph = load_example("segment_grounded_inpaint.json", comfy_server)
    with ScriptedOpenAIServer(boxes_answer((180, 390, 440, 780))) as server:
        graph[node_of(graph, "GenAssist_MLLMServer")]["inputs"]["base_url"] = server.base_url
        entry = comfy_server.run(graph, timeout=900, workflow=ui)
    mask = np.asarray(saved_image(comfy_server, entry, graph, "segment_mask").convert("L"))
    assert mask.shape == (HEIGHT, WIDTH) and mask.max() > 0
    assert saved_image(comfy_server, entry, graph, "segment_inpaint").size == (WIDTH, HEIGHT)


@pytest.mark.parametrize("replies,says,requests", [
    ([json.dumps({"explanation": "there is no seat in this picture", "objects": []})], "Nothing found", 1),
    (["The armchair on the left.", "[[1, 2]]"], "could not be read as boxes", 2),
])
def test_empty_and_malformed_answers_give_an_empty_mask_and_say_why(comfy_server, models, tmp_path, replies,
                                                                   says, requests):
    upload(comfy_server, tmp_path, photo_pixels())
    _, graph = load_example("segment_grounded_inpaint.json", comfy_server)
    with ScriptedOpenAIServer(replies) as server:
        entry = comfy_server.run(with_server(graph, server.base_url), timeout=900)
        assert len(server.requests) == requests
    mask = np.asarray(saved_image(comfy_server, entry, graph, "segment_mask").convert("L"))
    assert mask.shape == (HEIGHT, WIDTH) and mask.max() == 0
    assert says in preview_text(entry, graph)


def test_n_queries_on_one_image_run_the_image_encoder_once(comfy_server, models, tmp_path):
    name = "genassist_segment_queries.png"
    upload(comfy_server, tmp_path, photo_pixels(seed=12345), name)
    graph = {**grounded_segmenter(""), "4": {"class_type": "LoadImage", "inputs": {"image": name}}}
    for i, query in enumerate(["the thing to sit on", "the ground", "the sky"]):
        graph[f"s{i}"] = {"class_type": "GenAssist_Segment", "inputs": {"segmenter": ["3", 0], "image": ["4", 0],
                                                                         "query": query, "instances": "union",
                                                                         "grow_px": 0, "feather_px": 0}}
        graph[f"p{i}"] = {"class_type": "PreviewAny", "inputs": {"source": [f"s{i}", 1]}}
    before = len(PASS_LINE.findall(comfy_server.log_text()))
    with ScriptedOpenAIServer(boxes_answer((100, 100, 600, 600))) as server:
        graph["1"]["inputs"]["base_url"] = server.base_url
        entry = comfy_server.run(graph, timeout=600)
        assert len(server.requests) == 3
    assert all(entry["outputs"][f"p{i}"]["text"][0] for i in range(3))
    assert len(PASS_LINE.findall(comfy_server.log_text())) - before == 1


def test_shipped_lisa_workflow_runs(comfy_server, models, tmp_path):
    pixels = photo_pixels()
    upload(comfy_server, tmp_path, pixels)
    ui, graph = load_example("segment_lisa_inpaint.json", comfy_server)
    assert graph[node_of(graph, "GenAssist_LoadLISA")]["inputs"]["model"] == "LISA-7B-v1"
    entry = comfy_server.run(graph, timeout=900, workflow=ui)
    mask = np.asarray(saved_image(comfy_server, entry, graph, "segment_mask").convert("L"))
    assert mask.shape == (HEIGHT, WIDTH) and mask.max() > 0
    assert saved_image(comfy_server, entry, graph, "segment_inpaint").size == (WIDTH, HEIGHT)
    assert preview_text(entry, graph) == "[SEG]"

