"""The UI-format -> API-format converter used to run the shipped example workflows."""

import pytest

from harness.workflow import WorkflowError, ui_to_api

OBJECT_INFO = {
    "Loader": {"input": {"required": {"ckpt_name": [["a.safetensors", "b.safetensors"], {}]}}},
    "Sampler": {"input": {"required": {
        "model": ["MODEL"], "seed": ["INT", {"default": 0}], "steps": ["INT", {"default": 20}],
        "text": ["STRING", {"forceInput": True}], "cfg": ["FLOAT", {}]},
        "optional": {"note": ["STRING", {"multiline": True}]}}},
    "Picker": {"input": {"required": {"image": [["x.png"], {"image_upload": True}], "strength": ["FLOAT", {}]}}},
    "Texter": {"input": {"required": {"value": ["STRING", {}]}}},
}


def node(id_, type_, widgets=(), inputs=(), mode=0):
    return {"id": id_, "type": type_, "mode": mode, "widgets_values": list(widgets),
            "inputs": [{"name": n, "type": "*", "link": link} for n, link in inputs], "outputs": []}


def test_widgets_links_seed_control_and_force_input():
    wf = {"nodes": [node(1, "Loader", ["b.safetensors"]),
                    node(2, "Sampler", [123, "randomize", 8, 6.5, "hello"], [("model", 1), ("text", 2)]),
                    node(3, "Texter", ["prompt text"])],
          "links": [[1, 1, 0, 2, 0, "MODEL"], [2, 3, 0, 2, 3, "STRING"]]}
    api = ui_to_api(wf, OBJECT_INFO)
    assert api["1"]["inputs"] == {"ckpt_name": "b.safetensors"}
    assert api["2"]["inputs"] == {"model": ["1", 0], "seed": 123, "steps": 8, "text": ["3", 0], "cfg": 6.5,
                                  "note": "hello"}


def test_upload_widget_value_is_skipped():
    api = ui_to_api({"nodes": [node(1, "Picker", ["x.png", "image", 0.4])], "links": []}, OBJECT_INFO)
    assert api["1"]["inputs"] == {"image": "x.png", "strength": 0.4}


def test_reroute_and_primitive_are_resolved():
    wf = {"nodes": [node(1, "Loader", ["a.safetensors"]), node(2, "Reroute", [], [("", 1)]),
                    node(3, "PrimitiveNode", [77]),
                    node(4, "Sampler", [0, "fixed", 1, 1.0, ""], [("model", 2), ("seed", 3), ("text", None)])],
          "links": [[1, 1, 0, 2, 0, "MODEL"], [2, 2, 0, 4, 0, "MODEL"], [3, 3, 0, 4, 1, "INT"]]}
    api = ui_to_api(wf, OBJECT_INFO)
    assert set(api) == {"1", "4"}
    assert api["4"]["inputs"]["model"] == ["1", 0]
    assert api["4"]["inputs"]["seed"] == 77


def test_muted_nodes_are_left_out_and_unknown_types_fail():
    wf = {"nodes": [node(1, "Loader", ["a.safetensors"], mode=2), node(2, "Texter", ["t"])], "links": []}
    assert set(ui_to_api(wf, OBJECT_INFO)) == {"2"}
    with pytest.raises(WorkflowError, match="unknown node type 'Nope'"):
        ui_to_api({"nodes": [node(1, "Nope")], "links": []}, OBJECT_INFO)
    with pytest.raises(WorkflowError, match="no widget value"):
        ui_to_api({"nodes": [node(1, "Loader")], "links": []}, OBJECT_INFO)
    with pytest.raises(WorkflowError, match="not a UI-format"):
        ui_to_api({"1": {"class_type": "Loader"}}, OBJECT_INFO)


def test_optional_widget_added_after_the_workflow_was_saved_takes_its_default():
    wf = {"nodes": [node(2, "Sampler", [123, "fixed", 8, 6.5], [("model", 1), ("text", 1)]),
                    node(1, "Loader", ["a.safetensors"])],
          "links": [[1, 1, 0, 2, 0, "MODEL"]]}
    api = ui_to_api(wf, OBJECT_INFO)
    assert api["2"]["inputs"]["cfg"] == 6.5 and "note" not in api["2"]["inputs"]
    with pytest.raises(WorkflowError, match="no widget value for 'cfg'"):
        ui_to_api({"nodes": [node(2, "Sampler", [123, "fixed", 8])], "links": []}, OBJECT_INFO)
