"""Plan Edit in the real registry, given a model stuck repeating brackets: the plan error names the
nesting limit after the one repair turn (both answers are shown to the model's repair and to the user)."""

import pytest
import torch

from harness.inprocess import node, server_mllm
from harness.openai_server import ScriptedOpenAIServer


def test_plan_edit_with_a_deeply_nested_answer_names_the_nesting_limit(comfy_host):
    with ScriptedOpenAIServer(["[" * 4000, '{"steps": ' * 3000]) as server:
        mllm = server_mllm(comfy_host, server, stream=False)
        with pytest.raises(RuntimeError) as caught:  # PlanAnswerError, as ComfyUI loaded it
            node(comfy_host, "GenAssist_PlanEdit")(mllm, torch.rand(1, 24, 32, 3), "add a cat", 0, 4, 256, 0.2)
        assert len(server.requests) == 2
    message = str(caught.value)
    assert type(caught.value).__name__ == "PlanAnswerError"
    assert "nested 4000 levels deep (at most 64)" in message and "nested 3000 levels deep" in message
    assert "Edit Plan From JSON" in message
