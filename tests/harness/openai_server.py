"""A loopback server speaking the OpenAI chat-completions protocol, with scripted answers.

    with ScriptedOpenAIServer(lambda request: "<gen_image> a cat </gen_image>") as server:
        backend = OpenAIBackend(server.base_url, "test-model")
        ...
        server.requests[-1].json  # what the client sent

``reply`` is a string, a list of strings (one per request, the last repeated) or a callable
request_json -> string. Streaming requests get SSE chunks of ``chunk_chars`` characters.
"""

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class RecordedRequest:
    path: str
    headers: dict
    json: dict


class ScriptedOpenAIServer:
    def __init__(self, reply="ok", chunk_chars: int = 4, chunk_delay: float = 0.0, model: str = "test-model"):
        self.reply = reply
        self.chunk_chars = chunk_chars
        self.chunk_delay = chunk_delay
        self.model = model
        self.requests: list[RecordedRequest] = []
        self.failures: list[int] = []  # HTTP statuses to answer with before succeeding
        self.chunks_sent = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
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
            def log_message(self, *args):
                pass

            def _json(self, status, payload):
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

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
                    status = outer.failures.pop(0)
                    return self._json(status, {"error": {"message": f"scripted failure {status}"}})
                text = outer.answer_for(request)
                if not request.get("stream"):
                    return self._json(200, {"id": "cmpl-1", "object": "chat.completion", "model": outer.model,
                                            "choices": [{"index": 0, "finish_reason": "stop",
                                                         "message": {"role": "assistant", "content": text}}]})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    for start in range(0, len(text), outer.chunk_chars):
                        delta = {"content": text[start:start + outer.chunk_chars]}
                        chunk = {"id": "cmpl-1", "object": "chat.completion.chunk",
                                 "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        outer.chunks_sent += 1
                        if outer.chunk_delay:
                            time.sleep(outer.chunk_delay)
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading (interrupt)

        return Handler
