"""The server-sent-event reader on byte streams that real servers send but the loopback server does
not: llama.cpp's "error:" lines, SSE comments and event names, older vLLM's error chunks, multi-line
data, a last event without its blank line, and a server that goes quiet after its finish_reason."""

import json

import pytest

from genassist.mllm.openai_http import ServerError
from genassist.mllm.openai_stream import EmptyStream, StreamReader

URL = "http://127.0.0.1:8080/v1"


def chunk(content=None, finish=None, **delta):
    if content is not None:
        delta["content"] = content
    payload = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(payload)}\n".encode()


def lines(*parts, then=None):
    """A response body as http.client yields it (one line at a time); ``then`` is raised at the end."""
    for part in parts:
        yield from (line + b"\n" for line in part.split(b"\n")[:-1])
    if then is not None:
        raise then


def read(*parts, then=None, **kw):
    return StreamReader(URL, 2, **kw).read(lines(*parts, then=then))


def test_comments_event_names_and_ids_are_not_text():
    reply = read(b": keep-alive\n\n", b"event: message\nid: 7\n" + chunk("a red ") + b"\n",
                 chunk("fox", "stop") + b"\n", b"data: [DONE]\n\n")
    assert reply.text == "a red fox" and reply.finish_reason == "stop" and reply.done


def test_llama_cpp_error_line():
    body = json.dumps({"error": {"code": 500, "message": "failed to decode the batch", "type": "server_error"}})
    with pytest.raises(ServerError, match=f"^{URL} reported an error after 4 characters: failed to decode"):
        read(chunk("a re") + b"\n", f"error: {body}\n\n".encode())


def test_error_event_and_older_vllm_error_chunk():
    with pytest.raises(ServerError, match="reported an error after 0 characters: overloaded"):
        read(b'event: error\ndata: {"message": "overloaded"}\n\n')
    old_vllm = {"object": "error", "message": "prompt too long", "type": "BadRequestError", "code": 400}
    with pytest.raises(ServerError, match="reported an error after 0 characters: prompt too long"):
        read(f"data: {json.dumps(old_vllm)}\n\n".encode())


def test_last_event_without_its_blank_line_still_counts():
    assert read(chunk("done", "stop")).text == "done"


def test_a_chunk_with_infinity_in_it_is_read():
    """Python servers serializing with json.dumps's defaults write a -inf logprob as -Infinity: the text of
    the chunk is still the answer (nothing numeric in a chunk is used)."""
    payload = {"choices": [{"index": 0, "delta": {"content": "yes"}, "finish_reason": "stop",
                            "logprobs": {"content": [{"token": "yes", "logprob": float("-inf")}]}}]}
    body = f"data: {json.dumps(payload)}\n\n".encode()
    assert b"-Infinity" in body
    reply = read(body, b"data: [DONE]\n\n")
    assert reply.text == "yes" and reply.finish_reason == "stop"


def test_a_partial_last_event_is_a_cut():
    with pytest.raises(ServerError, match=r"cut off the answer after 3 characters \(the stream ended"):
        read(chunk("abc") + b"\n", b'data: {"choices": [{"delta": {"content": "d')


def test_quiet_after_finish_reason_is_complete():
    reply = read(chunk("a fox", "stop") + b"\n", then=TimeoutError("timed out"))
    assert reply.text == "a fox" and reply.complete


def test_quiet_before_finish_reason_is_a_stall():
    with pytest.raises(ServerError, match=r"no answer within timeout_s = 2 s; the stream stalled after 5 "
                                          r"characters \(and 4 of reasoning\)"):
        read(chunk(reasoning_content="hmm.") + b"\n", chunk("a fox") + b"\n", then=TimeoutError("timed out"))


def test_nothing_at_all_is_an_empty_stream():
    with pytest.raises(EmptyStream):
        read(b"")


def test_a_json_error_body_in_place_of_events():
    with pytest.raises(ServerError, match="not an event stream: 'model not loaded'"):
        read(b'{"error": {"message": "model not loaded"}}\n')


def test_stop_hook_ends_reading():
    seen = []
    reply = read(chunk("a") + b"\n", chunk("b") + b"\n", chunk("c") + b"\n", on_text=seen.append,
                 should_stop=lambda: len(seen) >= 2)
    assert reply.stopped and reply.text == "ab"


def test_data_split_over_lines_is_one_event():
    body = b'data: {"choices": [{"delta":\ndata: {"content": "x"}, "finish_reason": "stop"}]}\n\n'
    assert read(body).text == "x"
