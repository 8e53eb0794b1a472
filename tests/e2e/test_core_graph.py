"""Proof of the path: a core SD1.5 graph runs through the real server with GenAssist loaded, built from a
UI-format workflow by the same converter that runs the shipped examples."""

import json
from pathlib import Path

import numpy as np

from harness.graphs import node_of, saved_image
from harness.workflow import ui_to_api

CORE = Path(__file__).resolve().parents[1] / "browser" / "fixtures" / "core_txt2img.json"


def run_core(server, seed: int) -> np.ndarray:
    info = server.object_info()
    graph = ui_to_api(json.loads(CORE.read_text()), info)
    graph[node_of(graph, "KSampler")]["inputs"]["seed"] = seed
    entry = server.run(graph, timeout=600)
    return np.asarray(saved_image(server, entry, graph))


def test_core_graph_runs_with_genassist_loaded(comfy_server, tiny):
    assert tiny.sd15() == "v1-5-pruned-emaonly.safetensors"
    assert [n for n in comfy_server.object_info() if n.startswith("GenAssist_")], "GenAssist not loaded"
    assert "GenAssist: " in comfy_server.log_text() and "nodes loaded" in comfy_server.log_text()

    first = run_core(comfy_server, seed=7)
    again = run_core(comfy_server, seed=7)
    other = run_core(comfy_server, seed=8)
    assert first.shape == (64, 64, 3)
    assert np.array_equal(first, again), "same seed must give the same image"
    assert not np.array_equal(first, other), "a different seed must change the image"
