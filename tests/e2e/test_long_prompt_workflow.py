"""The shipped long-prompt workflow runs through the real ComfyUI server (tiny SD1.5).

The graph is the shipped file converted by ui_to_api; only the sampler steps and the latent size are
lowered after conversion (20 steps at 512x512 take minutes on a shared CPU; the graph is otherwise as
shipped)."""



from harness.graphs import load_example, preview_text, saved_image
from harness.workflow import lighten_for_cpu


def test_long_prompt_sd15_workflow(comfy_server, tiny):
    assert tiny.sd15() == "v1-5-pruned-emaonly.safetensors"
    ui, graph = load_example("long_prompt_sd15.json", comfy_server)
    encoders = [node for node in graph.values() if node["class_type"] == "GenAssist_LongPromptEncode"]
    assert len(encoders) == 2 and all(node["inputs"]["strategy"] == "sentence" for node in encoders)

    shipped = sorted(lighten_for_cpu(graph).values(), key=len)
    assert shipped == [{"steps": 20}, {"width": 512, "height": 512}]

    entry = comfy_server.run(graph, timeout=600, workflow=ui)
    report = preview_text(entry, graph)
    assert report.startswith("strategy: sentence")
    assert "windows: 3 of max 4" in report and "dropped: nothing" in report
    assert report.count("starts at a sentence boundary") == 3

    assert saved_image(comfy_server, entry, graph).size == (64, 64)
