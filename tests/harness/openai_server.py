"""A loopback server speaking the OpenAI chat-completions protocol, with scripted answers.

    with ScriptedOpenAIServer(lambda request: "<gen_image> a cat </gen_image>") as server:
        backend = OpenAIBackend(server.base_url, "test-model")
        ...
        server.requests[-1].json  # what the client sent

``reply`` is a string, a list of strings (one per request, the last repeated) or a callable
request_json -> string. Streaming requests get SSE chunks of ``chunk_chars`` characters, then a chunk
with ``finish_reason`` and ``data: [DONE]``, as llama.cpp, vLLM, Ollama and OpenAI send them.

It can also misbehave the way real servers do:

- ``failures``: HTTP errors answered before succeeding, one per request: a status (int) or a
  ``Failure`` (status, message, Retry-After, OpenAI error fields); ``context_overflow()`` is vLLM's
  answer to a prompt longer than the context.
- ``misbehave``: one mode (or ``Failure``) per request, consumed like ``failures`` (after them):
  "cut" closes the connection after ``cut_after`` chunks; "stall" stops sending after ``cut_after``
  chunks without closing; "empty" answers 200 and closes with no events; "no_done" ends with
  finish_reason and no [DONE]; "done_only" ends with [DONE] and no finish_reason; "malformed" sends a
  chunk that is not JSON after ``cut_after`` chunks; "error_event" sends ``data: {"error": …}`` after
  ``cut_after`` chunks; "not_json" answers 200 with an HTML page.
- ``reasoning``: text streamed first as ``delta.<reasoning_field>`` (vLLM, llama.cpp, LM Studio).
- ``reject_max_tokens``: answer 400 ``unsupported_parameter`` to ``max_tokens``, as OpenAI's reasoning
  models do; ``max_completion_tokens`` is accepted.
- ``chunked``: HTTP/1.1 chunked transfer encoding (what real servers use), so "cut" ends mid-body.
"""

import json
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = ("cut", "stall", "empty", "no_done", "done_only", "malformed", "error_event", "not_json")


@dataclass
class RecordedRequest:
    path: str
    headers: dict
    json: dict


@dataclass
class Failure:
    status: int
    message: str = ""
    retry_after: str | None = None  # Retry-After header value, e.g. "1"
    type: str = "server_error"
    code: str | int | None = None
    param: str | None = None

    def payload(self) -> dict:
        return {"error": {"message": self.message or f"scripted failure {self.status}", "type": self.type,
                          "param": self.param, "code": self.status if self.code is None else self.code}}


def context_overflow(limit: int = 16384, asked: int = 20000) -> Failure:
    """vLLM's 400 for a prompt that does not fit the model's context."""
    return Failure(400, f"This model's maximum context length is {limit} tokens. However, you requested "
                        f"{asked} tokens. Please reduce the length of the messages or completion.",
                   type="BadRequestError")


MAX_TOKENS_REJECTED = Failure(400, "Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                                   "'max_completion_tokens' instead.", type="invalid_request_error",
                              code="unsupported_parameter", param="max_tokens")


class ScriptedOpenAIServer:
    def __init__(self, reply="ok", chunk_chars: int = 4, chunk_delay: float = 0.0, model: str = "test-model",
                 port: int = 0, chunked: bool = False):
        self.reply = reply
        self.chunk_chars = chunk_chars
        self.chunk_delay = chunk_delay
        self.model = model
        self.chunked = chunked
        self.requests: list[RecordedRequest] = []
        self.failures: list = []  # HTTP statuses (int) or Failure, answered before succeeding
        self.misbehave: list = []  # MODES or Failure, one per request after the failures
        self.cut_after = 2  # chunks sent before "cut", "stall", "malformed", "error_event"
        self.finish_reason = "stop"
        self.reasoning = ""
        self.reasoning_field = "reasoning_content"
        self.reject_max_tokens = False
        self.chunks_sent = 0
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._closing.set()  # ends stalled answers
        self._server.shutdown()
        self._server.server_close()

    start = __enter__

    def stop(self):
        self.__exit__()

    def answer_for(self, request_json: dict) -> str:
        if callable(self.reply):
            return self.reply(request_json)
        if isinstance(self.reply, list):
            index = min(len(self.requests) - 1, len(self.reply) - 1)
            return self.reply[index]
        return self.reply

    def _handler(self):
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if outer.chunked else "HTTP/1.0"

            def log_message(self, *args):
                pass

            def _json(self, status, payload, headers=None):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _start_stream(self, content_type="text/event-stream"):
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                if outer.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

            def _send(self, data: bytes):
                if outer.chunked:
                    data = f"{len(data):x}\r\n".encode() + data + b"\r\n"
                self.wfile.write(data)
                self.wfile.flush()

            def _event(self, payload):
                self._send(f"data: {payload if isinstance(payload, str) else json.dumps(payload)}\n\n".encode())

            def _end_body(self):
                if outer.chunked:
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()

            def _hang_up(self):
                """Close the socket now, mid-body (a killed server process)."""
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    return self._json(200, {"object": "list", "data": [{"id": outer.model, "object": "model"}]})
                return self._json(404, {"error": {"message": "not found"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                request = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append(RecordedRequest(self.path, dict(self.headers), request))
                if not self.path.endswith("/chat/completions"):
                    return self._json(404, {"error": {"message": f"no route {self.path}"}})
                if outer.failures:
                    return self.do_failure()
                if outer.reject_max_tokens and "max_tokens" in request:
                    return self._json(400, MAX_TOKENS_REJECTED.payload())
                mode = outer.misbehave.pop(0) if outer.misbehave else None
                if isinstance(mode, Failure):
                    outer.failures.insert(0, mode)
                    return self.do_failure()
                assert mode in (None, *MODES), f"unknown mode {mode!r}"
                text = outer.answer_for(request)
                try:
                    if request.get("stream"):
                        self._stream(text, mode)
                    else:
                        self._whole(text, mode)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading (interrupt)

            def do_failure(self):
                failure = outer.failures.pop(0)
                failure = failure if isinstance(failure, Failure) else Failure(failure)
                headers = {"Retry-After": failure.retry_after} if failure.retry_after is not None else {}
                return self._json(failure.status, failure.payload(), headers)

            def _whole(self, text, mode):
                if mode == "stall":
                    outer._closing.wait(60)
                    return
                if mode == "not_json":
                    return self._html()
                message = {"role": "assistant", "content": text}
                if outer.reasoning:
                    message[outer.reasoning_field] = outer.reasoning
                payload = {"id": "cmpl-1", "object": "chat.completion", "model": outer.model,
                           "choices": [{"index": 0, "finish_reason": outer.finish_reason, "message": message}]}
                if mode == "cut":  # announce the whole body, send half of it, hang up
                    body = json.dumps(payload).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body[:len(body) // 2])
                    return self._hang_up()
                return self._json(200, payload)

            def _html(self):
                body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _stream(self, text, mode):
                if mode == "not_json":
                    return self._html()
                self._start_stream()
                if mode == "empty":
                    return self._end_body()
                deltas = [{outer.reasoning_field: outer.reasoning[i:i + outer.chunk_chars]}
                          for i in range(0, len(outer.reasoning), outer.chunk_chars)]
                deltas += [{"content": text[i:i + outer.chunk_chars]} for i in range(0, len(text), outer.chunk_chars)]
                for index, delta in enumerate(deltas):
                    if mode in ("cut", "stall", "malformed", "error_event") and index == outer.cut_after:
                        return self._misbehave_mid_stream(mode)
                    self._event({"id": "cmpl-1", "object": "chat.completion.chunk",
                                 "choices": [{"index": 0, "delta": delta, "finish_reason": None}]})
                    outer.chunks_sent += 1
                    if outer.chunk_delay:
                        time.sleep(outer.chunk_delay)
                if mode != "done_only":
                    self._event({"id": "cmpl-1", "object": "chat.completion.chunk",
                                 "choices": [{"index": 0, "delta": {}, "finish_reason": outer.finish_reason}]})
                if mode != "no_done":
                    self._event("[DONE]")
                self._end_body()

            def _misbehave_mid_stream(self, mode):
                if mode == "cut":
                    return self._hang_up()
                if mode == "stall":
                    outer._closing.wait(60)
                    return self._hang_up()
                if mode == "malformed":
                    self._event('{"id": "cmpl-1", "choices": [{"delta": {"content": "x"')
                else:
                    self._event({"error": {"message": "model runner crashed: out of memory",
                                           "type": "server_error", "code": 500}})
                self._end_body()

        return Handler
