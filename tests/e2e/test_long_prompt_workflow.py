"""The shipped long-prompt workflow runs through the real ComfyUI server (tiny SD1.5).

The graph is the shipped file converted by ui_to_api; only the sampler steps and the latent size are
lowered after conversion (20 steps at 512x512 take minutes on a shared CPU; the graph is otherwise as
shipped)."""

import io
import json
from pathlib import Path

from PIL import Image

from harness.workflow import lighten_for_cpu, ui_to_api

WORKFLOW = Path(__file__).resolve().parents[2] / "example_workflows" / "long_prompt_sd15.json"


def test_long_prompt_sd15_workflow(comfy_server, tiny):
    assert tiny.sd15() == "v1-5-pruned-emaonly.safetensors"
    ui = json.loads(WORKFLOW.read_text())
    graph = ui_to_api(ui, comfy_server.object_info())
    encoders = [node for node in graph.values() if node["class_type"] == "GenAssist_LongPromptEncode"]
    assert len(encoders) == 2 and all(node["inputs"]["strategy"] == "sentence" for node in encoders)

    shipped = sorted(lighten_for_cpu(graph).values(), key=len)
    assert shipped == [{"steps": 20}, {"width": 512, "height": 512}]

    entry = comfy_server.run(graph, timeout=600, workflow=ui)
    outputs = entry["outputs"]
    report_node = next(i for i, node in graph.items() if node["class_type"] == "PreviewAny")
    report = outputs[report_node]["text"][0]
    assert report.startswith("strategy: sentence")
    assert "windows: 3 of max 4" in report and "dropped: nothing" in report
    assert report.count("starts at a sentence boundary") == 3

    save_node = next(i for i, node in graph.items() if node["class_type"] == "SaveImage")
    (image_info,) = outputs[save_node]["images"]
    image = Image.open(io.BytesIO(comfy_server.view(image_info)))
    assert image.size == (64, 64)
