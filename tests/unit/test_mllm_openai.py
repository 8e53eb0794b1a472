"""The OpenAI-compatible backend against a loopback server: protocol, streaming, keys, errors, retries."""

import base64
import io

import pytest
from PIL import Image

from genassist.mllm.backend import GenerationSettings, Message
from genassist.mllm.openai_backend import OpenAIBackend, ServerError, validate_base_url
from harness.openai_server import ScriptedOpenAIServer

ANSWER = "<gen_image> a lighthouse at dusk </gen_image>"


@pytest.fixture
def server():
    with ScriptedOpenAIServer(ANSWER, chunk_chars=5) as s:
        yield s


def test_streaming_answer_and_request_body(server):
    seen = []
    backend = OpenAIBackend(server.base_url, "m1")
    image = Image.new("RGB", (8, 6), (0, 0, 255))
    answer = backend.generate([Message("system", "S"), Message("user", "describe", [image])],
                              GenerationSettings(max_new_tokens=77, temperature=0.3, seed=9), on_text=seen.append)
    assert answer == ANSWER
    assert seen[-1] == ANSWER and len(seen) == -(-len(ANSWER) // 5)
    body = server.requests[-1].json
    assert server.requests[-1].path == "/v1/chat/completions"
    assert body["model"] == "m1" and body["max_tokens"] == 77 and body["seed"] == 9 and body["stream"] is True
    assert body["messages"][0] == {"role": "system", "content": "S"}
    parts = body["messages"][1]["content"]
    assert parts[0] == {"type": "text", "text": "describe"}
    url = parts[1]["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    decoded = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert decoded.size == (8, 6) and decoded.getpixel((0, 0)) == (0, 0, 255)
    assert "response_format" not in body


def test_non_streaming_and_json_mode(server):
    backend = OpenAIBackend(server.base_url, "m1", stream=False)
    assert backend.generate([Message("user", "x")], GenerationSettings(json_mode=True)) == ANSWER
    body = server.requests[-1].json
    assert body["stream"] is False and body["response_format"] == {"type": "json_object"}


def test_api_key_from_environment_only(server, monkeypatch):
    monkeypatch.setenv("GENASSIST_TEST_KEY", "sk-secret")
    OpenAIBackend(server.base_url, "m1", api_key_env="GENASSIST_TEST_KEY").generate(
        [Message("user", "x")], GenerationSettings())
    assert server.requests[-1].headers["Authorization"] == "Bearer sk-secret"
    assert "sk-secret" not in str(server.requests[-1].json)


def test_missing_key_variable_is_a_clear_error(server, monkeypatch):
    monkeypatch.delenv("GENASSIST_NOT_SET", raising=False)
    with pytest.raises(ServerError, match="GENASSIST_NOT_SET is not set"):
        OpenAIBackend(server.base_url, "m1", api_key_env="GENASSIST_NOT_SET").generate(
            [Message("user", "x")], GenerationSettings())


def test_retries_transient_errors_then_succeeds(server, monkeypatch):
    monkeypatch.setattr("genassist.mllm.openai_http._sleep", lambda seconds: None)
    server.failures = [503, 429]
    answer = OpenAIBackend(server.base_url, "m1", retries=2).generate([Message("user", "x")], GenerationSettings())
    assert answer == ANSWER and len(server.requests) == 3


def test_client_errors_are_not_retried(server):
    server.failures = [404]
    with pytest.raises(ServerError, match="HTTP 404.*check base_url"):
        OpenAIBackend(server.base_url, "m1", retries=3).generate([Message("user", "x")], GenerationSettings())
    assert len(server.requests) == 1


def test_unreachable_server():
    with ScriptedOpenAIServer() as s:
        url = s.base_url
    with pytest.raises(ServerError, match="cannot reach"):
        OpenAIBackend(url, "m1", retries=0, timeout=2).generate([Message("user", "x")], GenerationSettings())


def test_stop_hook_closes_the_stream():
    with ScriptedOpenAIServer("x" * 400, chunk_chars=1, chunk_delay=0.01) as server:
        seen = []
        answer = OpenAIBackend(server.base_url, "m1").generate(
            [Message("user", "x")], GenerationSettings(), on_text=seen.append, should_stop=lambda: len(seen) >= 3)
    assert answer == "xxx"


@pytest.mark.parametrize("url", ["ftp://host/v1", "127.0.0.1:8000/v1", "http://user:pw@host/v1",
                                 "http://host/v1?x=1", "", "http:///v1"])
def test_bad_urls_are_rejected(url):
    with pytest.raises(ValueError):
        validate_base_url(url)


def test_good_url_is_normalised():
    assert validate_base_url(" http://127.0.0.1:11434/v1/ ") == "http://127.0.0.1:11434/v1"
