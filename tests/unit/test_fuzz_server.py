"""Hostile server replies: stream chunks, whole bodies and error bodies end in a reply or a ServerError."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from genassist.mllm.openai_http import ServerError, error_object
from genassist.mllm.openai_stream import StreamedReply, StreamReader, reply_from_body
from harness.fuzz import FUZZ, Tally, dumps, hostile_json, json_values, text_any


@pytest.fixture(scope="module")
def tally():
    collected = Tally("parsers")
    yield collected
    collected.flush()


piece = st.one_of(text_any, json_values, st.none())
delta = st.dictionaries(st.sampled_from(["content", "reasoning_content", "reasoning", "role"]), piece, max_size=3)
choice = st.dictionaries(st.sampled_from(["delta", "message", "finish_reason", "index"]),
                         st.one_of(delta, piece), max_size=3)
chunk = st.one_of(st.fixed_dictionaries({"choices": st.lists(choice, max_size=2)}),
                  st.dictionaries(st.sampled_from(["choices", "error", "object", "usage"]), st.one_of(piece, st.lists(
                      choice, max_size=2)), max_size=3),
                  json_values)


@st.composite
def event_lines(draw) -> list[bytes]:
    """A server-sent event stream: data lines (JSON chunks, hostile text, [DONE]), event:/error:/id:
    fields, comments, blank lines, stray HTML, invalid UTF-8, and a cut anywhere."""
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["chunk", "hostile", "done", "event", "error", "comment", "stray", "bytes"]))
        if kind == "chunk":
            lines += [b"data: " + dumps(draw(chunk)).encode("utf-8", "surrogatepass"), b""]
        elif kind == "hostile":
            lines += [b"data: " + draw(hostile_json(chunk)).encode("utf-8", "surrogatepass"), b""]
        elif kind == "done":
            lines += [b"data: [DONE]", b""]
        elif kind == "event":
            lines.append(b"event: " + draw(st.sampled_from([b"error", b"message", b"ping"])))
        elif kind == "error":
            lines.append(b"error: " + dumps(draw(json_values)).encode("utf-8", "surrogatepass"))
        elif kind == "comment":
            lines.append(b": keep-alive")
        elif kind == "stray":
            lines.append(draw(st.sampled_from([b"<html><body>502 Bad Gateway</body></html>", b"{\"detail\": 1}"])))
        else:
            lines.append(draw(st.binary(max_size=40)).replace(b"\n", b""))
    if lines and draw(st.booleans()):
        lines = lines[:draw(st.integers(0, len(lines)))]
    return [line + b"\n" for line in lines]


def _read(lines: list[bytes]) -> StreamedReply:
    reply = StreamReader("http://server/v1", 5.0, on_text=lambda text: None).read(iter(lines))
    assert reply.complete, "a reply is returned only when the stream says it is whole"
    return reply


@FUZZ
@given(event_lines())
def test_streams_give_a_whole_reply_or_a_server_error(tally, lines):
    reply = tally.call("OpenAI stream (server-sent events)", (ServerError,), _read, lines)
    assert reply is None or (isinstance(reply.text, str) and isinstance(reply.reasoning, str))


bodies = st.one_of(
    st.fixed_dictionaries({"choices": st.lists(choice, max_size=2)}),
    st.fixed_dictionaries({"choices": st.just([{"message": {"content": "a fox"}, "finish_reason": "stop"}])}),
    chunk)


@FUZZ
@given(hostile_json(bodies))
def test_whole_bodies_give_a_reply_or_a_server_error(tally, raw):
    reply = tally.call("OpenAI body (stream off)", (ServerError,), reply_from_body, raw, "http://server/v1")
    assert reply is None or (isinstance(reply.text, str) and reply.done)


error_bodies = st.one_of(
    st.fixed_dictionaries({"error": st.one_of(st.dictionaries(st.sampled_from(["message", "type", "code", "detail"]),
                                                              piece, max_size=3), piece)}),
    st.dictionaries(st.sampled_from(["message", "detail", "object"]), piece, max_size=2), json_values)


@FUZZ
@given(hostile_json(error_bodies))
def test_error_bodies_give_a_message(tally, raw):
    detail = tally.call("OpenAI error body (error_object)", (), error_object, raw)
    assert isinstance(detail["message"], str) and len(detail["message"]) <= 2000


def test_deeply_nested_chunk_is_a_server_error_not_a_recursion():
    lines = [b"data: " + b"[" * 5000 + b"\n", b"\n"]
    with pytest.raises(ServerError, match="malformed stream chunk"):
        StreamReader("http://server/v1", 5.0).read(iter(lines))


@pytest.mark.parametrize("raw, message", [
    ('{"choices": [{"message": "a fox"}]}', r"no choices\[0\].message object"),
    ('{"choices": [{"message": {"content": ["a", "fox"]}}]}', "content is list, not text"),
    ("[" * 5000, "not JSON"),
])
def test_unexpected_bodies_name_the_field(raw, message):
    with pytest.raises(ServerError, match=message):
        reply_from_body(raw, "http://server/v1")


@FUZZ
@given(text_any, st.one_of(st.none(), text_any), st.sampled_from([None, "stop", "length", 7]))
def test_well_formed_bodies_give_their_text(tally, content, reasoning, finish):
    raw = dumps({"choices": [{"message": {"content": content, "reasoning_content": reasoning},
                              "finish_reason": finish}]})
    reply = tally.call("OpenAI body (stream off, well formed)", (), reply_from_body, raw, "http://server/v1")
    assert reply.text == content and reply.reasoning == (reasoning or "")
    assert reply.finish_reason == (None if finish is None else str(finish))
