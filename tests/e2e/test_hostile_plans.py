"""A plan nested thousands of levels deep (a broken paste, or a model stuck repeating brackets), pasted into
the plan nodes of the real server: the node fails with the plan error naming the nesting limit, and the
server goes on to the next prompt."""

import json

import pytest

DEEP = "[" * 3000 + "]" * 3000


def graph(node_id: str, plan_json: str) -> dict:
    return {"1": {"class_type": node_id, "inputs": {"plan_json": plan_json}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}


@pytest.mark.parametrize("node_id, valid", [
    ("GenAssist_EditPlanFromJSON", json.dumps({"steps": []})),
    ("GenAssist_CanvasPlanFromJSON", json.dumps({"global_caption": "a", "width": 8, "height": 8, "tiles": [],
                                                 "source": {"x": 0, "y": 0, "width": 8, "height": 8}})),
])
def test_deep_nesting_is_the_plan_error_and_the_server_stays_up(comfy_server, node_id, valid):
    entry = comfy_server.run(graph(node_id, DEEP), timeout=120, expect_error=True)
    error = comfy_server.execution_error(entry)
    assert error["node_type"] == node_id
    assert "nested 3000 levels deep (at most 64)" in error["exception_message"]
    assert "RecursionError" not in json.dumps(error)
    comfy_server.run(graph(node_id, valid), timeout=120)  # the queue goes on
