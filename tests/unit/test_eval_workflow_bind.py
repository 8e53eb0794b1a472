"""Binding a dataset item to the marked nodes of a workflow in API format, and the clear errors of a
workflow marked wrongly."""

import pytest

from genassist.evaluation.workflow_bind import bind_workflow

PROVIDED = {"image", "mask", "instruction"}


def edit_graph() -> dict:
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}, "_meta": {"title": "eval:image"}},
        "2": {"class_type": "LoadImage", "inputs": {"image": "m.png"}, "_meta": {"title": "eval:mask"}},
        "3": {"class_type": "GenAssist_ExpressiveInstruction", "inputs": {"instruction": "", "seed": 0},
              "_meta": {"title": "eval:instruction"}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["9", 0]},
              "_meta": {"title": "eval:instruction=text"}},
        "5": {"class_type": "SaveImage", "inputs": {"images": ["8", 0]}, "_meta": {"title": "eval:output"}},
    }


def test_marked_inputs_are_filled_and_the_original_kept():
    original = edit_graph()
    bound = bind_workflow(original, PROVIDED)
    graph = bound.fill({"image": "up_in.png", "mask": "up_mask.png"}, {"instruction": "make it snow"})
    assert graph["1"]["inputs"]["image"] == "up_in.png" and graph["2"]["inputs"]["image"] == "up_mask.png"
    assert graph["3"]["inputs"]["instruction"] == "make it snow" and graph["4"]["inputs"]["text"] == "make it snow"
    assert bound.output_node == "5" and original["1"]["inputs"]["image"] == "x.png"


@pytest.mark.parametrize("change,says", [
    (lambda g: {"nodes": [], "links": []}, "not a workflow in API format"),
    (lambda g: g.pop("5") and g, "exactly one node must be titled 'eval:output' (found 0)"),
    (lambda g: g["1"]["_meta"].update(title="eval:picture") or g, "node 1 is titled 'eval:picture'"),
    (lambda g: g["1"]["_meta"].update(title="eval:query") or g, "node 1 asks for 'query', which this dataset"),
    (lambda g: g["4"]["_meta"].update(title="eval:instruction=prompt") or g, "node 4 (CLIPTextEncode"),
])
def test_wrongly_marked_workflows_are_refused_with_the_node_named(change, says):
    with pytest.raises(ValueError, match="workflow") as err:
        bind_workflow(change(edit_graph()), PROVIDED, "workflow")
    assert says in str(err.value)
