"""The example workflows convert to the same API prompts as before the nodes moved to V3: converted with the
live node definitions of this server, byte for byte equal to the prompts the V1 nodes gave (golden captured
on ComfyUI 0.33.0 and 0.3.75, identical on both). The frontend's own conversion is checked the same way in
browser/test_template_browser.py."""

import json
from pathlib import Path

import pytest

from harness.workflow import ui_to_api

PACK = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((PACK / "example_workflows").glob("*.json"))
GOLDEN = json.loads((Path(__file__).parent / "golden" / "example_prompts.json").read_text())


def test_every_example_has_a_golden_prompt():
    assert sorted(GOLDEN) == sorted(p.name for p in EXAMPLES)
    assert len(EXAMPLES) >= 13


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_api_prompt_unchanged(comfy_server, path):
    prompt = ui_to_api(json.loads(path.read_text()), comfy_server.object_info())
    assert json.dumps(prompt, sort_keys=True) == json.dumps(GOLDEN[path.name], sort_keys=True)
