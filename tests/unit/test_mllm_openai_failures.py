"""The OpenAI-compatible backend against servers that misbehave the way real ones do: cut-off and
stalled streams, empty streams, malformed chunks, context overflow, refusals worth retrying (and the
number of requests the server saw), thinking models and OpenAI's reasoning-model parameters."""

import logging
import socket
import threading
import time
from email.utils import formatdate

import pytest

from genassist.mllm import openai_http
from genassist.mllm.backend import GenerationSettings, Message
from genassist.mllm.openai_backend import OpenAIBackend, ServerError
from harness.openai_server import MAX_TOKENS_REJECTED, Failure, ScriptedOpenAIServer, context_overflow

ANSWER = "<gen_image> a lighthouse at dusk, waves below </gen_image>"
ASK = [Message("user", "x")]


@pytest.fixture(params=[False, True], ids=["close-delimited", "chunked"])
def server(request):
    with ScriptedOpenAIServer(ANSWER, chunk_chars=4, chunked=request.param) as s:
        yield s


@pytest.fixture
def waits(monkeypatch):
    """The retry waits, recorded instead of slept."""
    slept = []
    monkeypatch.setattr(openai_http, "_sleep", slept.append)
    return slept


def ask(server, settings=None, **kw):
    kw.setdefault("timeout", 2)
    return OpenAIBackend(server.base_url, "m1", **kw).generate(ASK, settings or GenerationSettings())


def test_connection_closed_mid_stream_is_a_cut_off_error(server):
    server.misbehave = ["cut"]
    with pytest.raises(ServerError) as caught:
        ask(server)
    message = str(caught.value)
    assert message.startswith(f"{server.base_url} cut off the answer after 8 characters")
    assert "'<gen_ima'" in message  # the partial answer is shown, not used
    assert len(server.requests) == 1


def test_stalled_stream_names_the_timeout(server):
    server.misbehave = ["stall"]
    with pytest.raises(ServerError, match=r"no answer within timeout_s = 1 s; the stream stalled after 8 "
                                          r"characters") as caught:
        ask(server, timeout=1)
    assert str(caught.value).startswith(server.base_url)
    assert len(server.requests) == 1


def test_stalled_non_streamed_answer_is_not_asked_again(server):
    server.misbehave = ["stall"]
    with pytest.raises(ServerError, match=r"no answer within timeout_s = 1 s \(stream off: the whole answer"):
        ask(server, timeout=1, stream=False)
    assert len(server.requests) == 1, "a slow generation must not be started again"


def test_cancel_during_a_stalled_stream_ends_the_read_at_once(server):
    server.misbehave = ["stall"]
    started = time.monotonic()
    answer = OpenAIBackend(server.base_url, "m1", timeout=60).generate(
        ASK, GenerationSettings(), should_stop=lambda: time.monotonic() - started > 0.5)
    assert answer == ""  # cancelled: nothing is passed on as an answer
    # without unblocking, the read would wait out timeout_s = 60 s; a generous bound for a loaded machine
    assert time.monotonic() - started < 30
    assert len(server.requests) == 1


def test_non_streamed_answer_cut_mid_body(server):
    server.misbehave = ["cut"]
    with pytest.raises(ServerError, match=r"cut off the answer \(IncompleteRead\)"):
        ask(server, stream=False)
    assert len(server.requests) == 1


def test_empty_stream_gets_the_servers_own_message(server):
    server.misbehave = ["empty", context_overflow(16384, 20000)]
    with pytest.raises(ServerError) as caught:
        ask(server)
    message = str(caught.value)
    assert message.startswith(f"{server.base_url} answered 200 and closed the stream without sending anything; "
                              "asked once more without streaming: answered HTTP 400: This model's maximum context "
                              "length is 16384 tokens")
    assert "do not fit the model's context" in message and caught.value.status == 400
    assert [r.json["stream"] for r in server.requests] == [True, False]


def test_empty_stream_then_a_normal_answer_without_streaming(server, caplog):
    server.misbehave = ["empty"]
    with caplog.at_level(logging.WARNING):
        assert ask(server) == ANSWER
    assert [r.json["stream"] for r in server.requests] == [True, False]
    assert "turn stream off" in caplog.text


@pytest.mark.parametrize("mode", ["no_done", "done_only"])
def test_either_end_marker_completes_the_answer(server, mode):
    server.misbehave = [mode]
    assert ask(server) == ANSWER
    assert len(server.requests) == 1


def test_malformed_chunk(server):
    server.misbehave = ["malformed"]
    with pytest.raises(ServerError, match=r"sent a malformed stream chunk after 8 characters: "
                                          r"'\{\"id\": \"cmpl-1\", \"choices\""):
        ask(server)


def test_error_event_mid_stream(server):
    server.misbehave = ["error_event"]
    with pytest.raises(ServerError, match=r"reported an error after 8 characters: model runner crashed: out "
                                          r"of memory") as caught:
        ask(server)
    assert str(caught.value).startswith(server.base_url)


@pytest.mark.parametrize("stream,said", [(True, "not an event stream"), (False, "not JSON")])
def test_html_instead_of_an_answer(server, stream, said):
    server.misbehave = ["not_json"]
    with pytest.raises(ServerError, match=f"{said}: '<html><body><h1>502 Bad Gateway"):
        ask(server, stream=stream)


@pytest.mark.parametrize("failure,shown", [
    (context_overflow(4096, 5000), "This model's maximum context length is 4096 tokens"),
    (Failure(400, "the request exceeds the available context size, try increasing it",
             type="exceed_context_size_error"), "the request exceeds the available context size"),
])
def test_context_overflow_is_reported_with_what_to_change(server, failure, shown):
    server.failures = [failure]
    with pytest.raises(ServerError) as caught:
        ask(server, retries=2)
    assert f"answered HTTP 400: {shown}" in str(caught.value)
    assert "do not fit the model's context" in str(caught.value) and "max_new_tokens" in str(caught.value)
    assert len(server.requests) == 1


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_is_shown_live_but_is_not_the_answer(server, field):
    server.reasoning, server.reasoning_field = "The user wants a lighthouse.", field
    seen = []
    backend = OpenAIBackend(server.base_url, "m1", timeout=2)
    assert backend.generate(ASK, GenerationSettings(), on_text=seen.append) == ANSWER
    assert seen[0] == "<think>The </think>\n"
    assert seen[-1] == f"<think>The user wants a lighthouse.</think>\n{ANSWER}"


def test_answer_hitting_max_new_tokens_is_kept_and_logged(server, caplog):
    server.finish_reason = "length"
    with caplog.at_level(logging.WARNING):
        assert ask(server, GenerationSettings(max_new_tokens=77)) == ANSWER
    assert "hit max_new_tokens = 77 (finish_reason 'length')" in caplog.text


def test_thinking_that_uses_up_max_new_tokens_says_so(server, caplog):
    server.reply, server.reasoning, server.finish_reason = "", "step one, step two", "length"
    with caplog.at_level(logging.WARNING):
        assert ask(server, GenerationSettings(max_new_tokens=30)) == ""
    assert "hit max_new_tokens = 30 while still thinking" in caplog.text


def test_content_filter_is_an_error(server):
    server.finish_reason = "content_filter"
    with pytest.raises(ServerError, match=r"withheld the rest of the answer \(finish_reason 'content_filter'\) "
                                          f"after {len(ANSWER)} characters"):
        ask(server)


def test_reasoning_model_gets_max_completion_tokens(server):
    server.reject_max_tokens = True
    backend = OpenAIBackend(server.base_url, "o-model", timeout=2)
    assert backend.generate(ASK, GenerationSettings(max_new_tokens=300)) == ANSWER
    first, second = (r.json for r in server.requests)
    assert first["max_tokens"] == 300
    assert second["max_completion_tokens"] == 300 and "max_tokens" not in second
    backend.generate(ASK, GenerationSettings(max_new_tokens=200))  # remembered: no rejected request again
    assert len(server.requests) == 3 and server.requests[2].json["max_completion_tokens"] == 200


def test_rejected_temperature_falls_back_to_the_models_default(server, caplog):
    server.failures = [Failure(400, "Unsupported value: 'temperature' does not support 0.2 with this model. Only "
                                    "the default (1) value is supported.", type="invalid_request_error",
                               code="unsupported_value", param="temperature")]
    with caplog.at_level(logging.WARNING):
        assert ask(server, GenerationSettings(temperature=0.2)) == ANSWER
    assert server.requests[0].json["temperature"] == 0.2 and "temperature" not in server.requests[1].json
    assert "does not accept temperature = 0.2" in caplog.text


def test_other_400s_are_not_adapted(server):
    server.failures = [MAX_TOKENS_REJECTED, MAX_TOKENS_REJECTED]
    with pytest.raises(ServerError, match="HTTP 400: Unsupported parameter: 'max_tokens'"):
        ask(server)  # renamed once; the same complaint again is reported, not looped on
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [429, 502, 503])
def test_refusals_are_retried_after_the_servers_retry_after(server, waits, status):
    server.failures = [Failure(status, "busy", retry_after="3"), Failure(status, "busy", retry_after="1")]
    assert ask(server, retries=2) == ANSWER
    assert len(server.requests) == 3
    assert round(sum(waits), 6) == 4.0


def test_retries_are_bounded(server, waits):
    server.failures = [503, 503, 503, 503]
    with pytest.raises(ServerError, match=f"{server.base_url} answered HTTP 503: scripted failure 503"):
        ask(server, retries=2)
    assert len(server.requests) == 3
    assert round(sum(waits), 6) == 1.5  # 0.5 s, then 1 s without a Retry-After


def test_a_retry_after_beyond_the_limit_is_reported_not_waited(server, waits):
    server.failures = [Failure(503, "Loading model", retry_after="3600")]
    with pytest.raises(ServerError, match=r"HTTP 503: Loading model \(it asks to retry after 3600 s\)"):
        ask(server, retries=2)
    assert len(server.requests) == 1 and waits == []


@pytest.mark.parametrize("failure", [500, 504, Failure(429, "You exceeded your current quota",
                                                           code="insufficient_quota")])
def test_errors_after_the_server_took_the_work_are_not_retried(server, waits, failure):
    server.failures = [failure]
    with pytest.raises(ServerError, match="answered HTTP"):
        ask(server, retries=3)
    assert len(server.requests) == 1 and waits == []


def test_cancel_during_a_retry_wait(server):
    server.failures = [Failure(503, "Loading model", retry_after="20")]
    calls = []
    backend = OpenAIBackend(server.base_url, "m1", timeout=2, retries=1)
    answer = backend.generate(ASK, GenerationSettings(), should_stop=lambda: calls.append(1) or len(calls) > 3)
    assert answer == ""  # the caller raises its interrupt
    assert len(server.requests) == 1


def test_refused_connection_is_retried_until_the_server_is_up(caplog):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    holder = {}

    def start_later():
        holder["server"] = ScriptedOpenAIServer(ANSWER, port=port).start()

    timer = threading.Timer(0.3, start_later)
    timer.start()
    try:
        with caplog.at_level(logging.WARNING):
            answer = OpenAIBackend(f"http://127.0.0.1:{port}/v1", "m1", timeout=2, retries=3).generate(
                ASK, GenerationSettings())
    finally:
        timer.join()
        holder["server"].stop()
    assert answer == ANSWER and len(holder["server"].requests) == 1
    assert "refused the connection; asking again" in caplog.text


def test_retry_after_as_http_date():
    wait = openai_http.retry_after({"Retry-After": formatdate(time.time() + 5, usegmt=True)}, 0)
    assert 3.5 < wait <= 5.0
    assert openai_http.retry_after({}, 2) == 2.0


@pytest.mark.parametrize("body,message", [
    ('{"error": {"message": "bad", "type": "x", "code": 400}}', "bad"),  # OpenAI, llama.cpp, Ollama, vLLM
    ('{"object": "error", "message": "old vllm", "type": "BadRequestError", "code": 400}', "old vllm"),
    ('{"detail": "fastapi"}', "fastapi"),
    ('{"error": "plain string"}', "plain string"),
    ("<html>\n  <b>Bad</b>\n</html>", "<html> <b>Bad</b> </html>"),
])
def test_error_bodies_of_each_server(body, message):
    assert openai_http.error_object(body)["message"] == message
