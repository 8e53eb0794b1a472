"""The shipped LLMGA / MGIE workflows run (sampler steps and empty-latent size lowered for CPU) through the real ComfyUI server with tiny models, and
the same graphs with a scripted OpenAI-compatible server show the parsed prompt flowing through."""

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from harness.graphs import load_example, node_of, preview_text, saved_image, scripted_mllm
from harness.openai_server import ScriptedOpenAIServer
from harness.workflow import lighten_for_cpu

PHOTO, MASKED = "genassist_example_photo.png", "genassist_example_masked.png"


def write_inputs(tmp_path, server):
    photo = Image.new("RGB", (320, 256), (90, 140, 200))
    draw = ImageDraw.Draw(photo)
    draw.rectangle((0, 170, 320, 256), fill=(60, 120, 50))
    draw.ellipse((200, 30, 260, 90), fill=(250, 220, 80))
    photo.save(tmp_path / PHOTO)
    masked = photo.convert("RGBA")
    masked.paste((0, 0, 0, 0), (100, 100, 180, 180))  # transparent = the hole (LoadImage mask = 1 - alpha)
    masked.save(tmp_path / MASKED)
    server.upload_image(tmp_path / PHOTO)
    server.upload_image(tmp_path / MASKED)


@pytest.fixture(scope="module")
def models(tiny):
    assert tiny.qwen25vl() == "Qwen2.5-VL-3B-Instruct"
    assert tiny.sd15() == "v1-5-pruned-emaonly.safetensors"
    tiny.sd15(name="sd-v1-5-inpainting.safetensors", unet_in_channels=9)
    tiny.sd15(name="instruct-pix2pix-00-22000.safetensors", unet_in_channels=8)


@pytest.mark.parametrize("name,size", [
    ("llmga_text_to_image.json", (64, 64)),
    ("llmga_similar_image.json", (64, 64)),
    ("llmga_long_prompt_sd15.json", (64, 64)),
    ("llmga_inpaint.json", (320, 256)),
    ("mgie_instruct_edit.json", (320, 256)),
])
def test_shipped_workflow_runs_with_local_tiny_model(comfy_server, models, tmp_path, name, size):
    write_inputs(tmp_path, comfy_server)
    ui, graph = load_example(name, comfy_server)
    loader = graph[node_of(graph, "GenAssist_LoadMLLM")]
    assert loader["inputs"]["model"] == "Qwen2.5-VL-3B-Instruct"
    shipped = lighten_for_cpu(graph)
    assert {v["steps"] for v in shipped.values() if "steps" in v} == {20}
    entry = comfy_server.run(graph, timeout=900, workflow=ui)
    assert saved_image(comfy_server, entry, graph).size == size
    assert preview_text(entry, graph).strip(), "the MLLM produced no prompt"
    if any(n["class_type"] == "GenAssist_LongPromptEncode" for n in graph.values()):
        # the refined prompt reached the long-prompt encoder, whose report is shown
        reports = [out["text"][0] for out in entry["outputs"].values() if "text" in out]
        assert any(r.startswith("strategy: sentence") for r in reports), reports


def with_server(graph, base_url):
    """The same graph with the local loader swapped for the server node (one sampling step: these tests
    are about what reaches and leaves the MLLM)."""
    lighten_for_cpu(graph, steps=1)
    graph[node_of(graph, "GenAssist_LoadMLLM")] = scripted_mllm(base_url)
    return graph


def test_inpaint_workflow_prompt_flow_and_mask_polarity(comfy_server, models, tmp_path):
    write_inputs(tmp_path, comfy_server)
    ui, graph = load_example("llmga_inpaint.json", comfy_server)
    answer = "<think>fill the hole</think> <gen_image> a sunny meadow under a blue sky </gen_image>"
    with ScriptedOpenAIServer(answer) as server:
        entry = comfy_server.run(with_server(graph, server.base_url), timeout=900, workflow=ui)
    assert preview_text(entry, graph) == "a sunny meadow under a blue sky"
    request = server.requests[-1].json
    assert "missing" in request["messages"][1]["content"][0]["text"]
    import base64

    url = request["messages"][1]["content"][1]["image_url"]["url"]
    seen = np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))
    assert (seen[100:180, 100:180] == 0).all(), "the hole must reach the MLLM black"
    assert tuple(seen[20, 20]) == (90, 140, 200)


def test_mgie_workflow_instruction_flow(comfy_server, models, tmp_path):
    write_inputs(tmp_path, comfy_server)
    ui, graph = load_example("mgie_instruct_edit.json", comfy_server)
    reply = "The trees and ground are covered in snow. The sky is pale grey. Children build a snowman."
    with ScriptedOpenAIServer(reply) as server:
        entry = comfy_server.run(with_server(graph, server.base_url), timeout=900, workflow=ui)
    assert preview_text(entry, graph) == "The trees and ground are covered in snow. The sky is pale grey."
    text = server.requests[-1].json["messages"][0]["content"][0]["text"]
    assert text.startswith("what will this image be like if 'make it look like a snowy winter day'")


def test_bad_server_answer_fails_the_node_not_the_server(comfy_server, models, tmp_path):
    write_inputs(tmp_path, comfy_server)
    ui, graph = load_example("llmga_text_to_image.json", comfy_server)
    with ScriptedOpenAIServer("I'm sorry, but I can't help with that.") as server:
        entry = comfy_server.run(with_server(graph, server.base_url), timeout=300, expect_error=True)
    error = comfy_server.execution_error(entry)
    assert error["node_type"] == "GenAssist_RefinePrompt" and "refused" in error["exception_message"]
    assert comfy_server.object_info("GenAssist_RefinePrompt")  # the server is still up
