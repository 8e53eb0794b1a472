"""MLLM Server -> Refine Prompt through the real ComfyUI server while the loopback LLM server misbehaves
the way real ones do. Each failure fails the node with a message that says what happened, the queue
runs the next prompt, and retries happen only where the server did no work (requests counted)."""

import pytest

from harness.graphs import scripted_mllm
from harness.openai_server import Failure, ScriptedOpenAIServer, context_overflow

ANSWER = "<gen_image> a red lighthouse on a cliff at dusk, waves below </gen_image>"
PROMPT = "a red lighthouse on a cliff at dusk, waves below"


def refine_graph(base_url, text, timeout_s=2, stream=True, max_new_tokens=64):
    return {
        "1": scripted_mllm(base_url, stream, timeout_s),
        "2": {"class_type": "GenAssist_RefinePrompt",
              "inputs": {"mllm": ["1", 0], "task": "generate", "text": text, "seed": 0,
                         "max_new_tokens": max_new_tokens, "temperature": 0.2, "style": "paragraph"}},
        "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
    }


def prompt_of(entry):
    return entry["outputs"]["3"]["text"][0]


def fail_then_recover(comfy_server, server, text, **graph_options):
    """Run a prompt that fails, then the same prompt again (the server behaves now): the error, and proof
    that the queue is alive."""
    entry = comfy_server.run(refine_graph(server.base_url, text, **graph_options), timeout=120, expect_error=True)
    error = comfy_server.execution_error(entry)
    assert error["node_type"] == "GenAssist_RefinePrompt"
    failed_requests = len(server.requests)
    recovered = comfy_server.run(refine_graph(server.base_url, text, **graph_options), timeout=120)
    assert prompt_of(recovered) == PROMPT
    return error["exception_message"], failed_requests


@pytest.mark.parametrize("mode,stream,said,requests", [
    ("cut", True, "cut off the answer after 8 characters", 1),
    ("stall", True, "no answer within timeout_s = 1 s; the stream stalled after 8 characters", 1),
    ("stall", False, "no answer within timeout_s = 1 s (stream off: the whole answer must arrive within it)", 1),
    ("malformed", True, "sent a malformed stream chunk after 8 characters", 1),
    ("error_event", True, "reported an error after 8 characters: model runner crashed", 1),
    ("not_json", True, "answered with something that is not an event stream", 1),
], ids=["cut", "stall", "stall-stream-off", "malformed", "error-event", "not-json"])
def test_broken_answers_fail_the_node_and_the_queue_goes_on(comfy_server, mode, stream, said, requests):
    with ScriptedOpenAIServer(ANSWER, chunked=True) as server:
        server.misbehave = [mode]
        message, seen = fail_then_recover(comfy_server, server, f"lighthouse {mode} {stream}", timeout_s=1,
                                          stream=stream)
    assert message.startswith(server.base_url) and said in message
    assert seen == requests, "a request the server accepted must not be sent again"


def test_empty_stream_shows_the_servers_own_message(comfy_server):
    with ScriptedOpenAIServer(ANSWER) as server:
        server.misbehave = ["empty", context_overflow(16384, 20000)]
        message, seen = fail_then_recover(comfy_server, server, "lighthouse empty stream")
    assert "closed the stream without sending anything; asked once more without streaming: answered HTTP 400: " \
           "This model's maximum context length is 16384 tokens" in message
    assert "no prompt text" not in message
    assert seen == 2 and [r.json["stream"] for r in server.requests[:2]] == [True, False]


def test_context_overflow_with_streaming(comfy_server):
    with ScriptedOpenAIServer(ANSWER) as server:
        server.failures = [Failure(400, "the request exceeds the available context size, try increasing it",
                                   type="exceed_context_size_error")]
        message, seen = fail_then_recover(comfy_server, server, "lighthouse overflow")
    assert "answered HTTP 400: the request exceeds the available context size" in message
    assert "give the server a larger context" in message and seen == 1


def test_busy_server_is_asked_again_after_retry_after(comfy_server):
    with ScriptedOpenAIServer(ANSWER) as server:
        server.failures = [Failure(503, "Loading model", retry_after="1"), Failure(429, "slow down",
                                                                                  retry_after="0")]
        entry = comfy_server.run(refine_graph(server.base_url, "lighthouse busy"), timeout=120)
    assert prompt_of(entry) == PROMPT
    assert len(server.requests) == 3
    assert "answered HTTP 503 (Loading model); asking again in 1 s" in comfy_server.log_text()


def test_retries_give_up_with_the_servers_message(comfy_server):
    with ScriptedOpenAIServer(ANSWER) as server:
        server.failures = [Failure(502, "upstream down", retry_after="0")] * 3
        message, seen = fail_then_recover(comfy_server, server, "lighthouse gateway")
    assert "answered HTTP 502: upstream down" in message and seen == 3  # the node's 2 retries, bounded


def test_thinking_model_with_openai_parameters(comfy_server):
    """A reasoning model that streams reasoning_content and, like OpenAI's, rejects max_tokens."""
    with ScriptedOpenAIServer(ANSWER) as server:
        server.reasoning = "The user wants a lighthouse; I will describe it."
        server.reject_max_tokens = True
        entry = comfy_server.run(refine_graph(server.base_url, "lighthouse thinking", max_new_tokens=300),
                                 timeout=120)
    assert prompt_of(entry) == PROMPT  # the reasoning is not the answer
    assert [("max_tokens" in r.json, r.json.get("max_completion_tokens")) for r in server.requests] == [
        (True, None), (False, 300)]


def test_answer_at_max_new_tokens_and_without_the_tag_is_used_and_logged(comfy_server):
    with ScriptedOpenAIServer("a lighthouse on a cliff, untagged") as server:
        server.finish_reason = "length"
        entry = comfy_server.run(refine_graph(server.base_url, "lighthouse untagged", max_new_tokens=48),
                                 timeout=120)
    assert prompt_of(entry) == "a lighthouse on a cliff, untagged"
    log = comfy_server.log_text()
    assert "the answer of scripted hit max_new_tokens = 48 (finish_reason 'length')" in log
    assert "scripted, image 0: the answer has no <gen_image> tag; using the whole answer as the prompt" in log
