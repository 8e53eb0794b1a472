"""The few calls of a running ComfyUI server's HTTP API that running a workflow over a dataset needs:
upload an image (/upload/image), queue a graph (/prompt), wait for its history entry (/history/<id>) and
fetch an output file (/view). A ServerDown means the server itself is unreachable (its items go to the
other servers); a GraphFailed means this item's graph failed (the item is recorded as failed)."""

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path


class ServerDown(ConnectionError):
    pass


class GraphFailed(RuntimeError):
    pass


def check_url(url: str) -> str:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"--server {url!r} is not an http(s) URL, e.g. http://127.0.0.1:8188")
    return url.rstrip("/")


class ComfyClient:
    def __init__(self, url: str, timeout: float = 600.0, poll_s: float = 0.25):
        self.url = check_url(url)
        self.timeout = timeout
        self.poll_s = poll_s
        self.client_id = uuid.uuid4().hex

    def _open(self, request, timeout: float = 60.0) -> bytes:
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.read()
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace")
            raise GraphFailed(f"{self.url}: HTTP {err.code}: {body[:1500]}") from None
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as err:
            raise ServerDown(f"{self.url} is unreachable: {err}") from None

    def _json(self, route: str, payload=None):
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + route, data=data, headers={"Content-Type": "application/json"})
        body = self._open(request)
        return json.loads(body) if body else None

    def upload_image(self, path: Path, name: str) -> str:
        """Upload into the server's input folder (overwriting), returning the name LoadImage takes."""
        boundary = uuid.uuid4().hex
        parts = [(f'--{boundary}\r\nContent-Disposition: form-data; name="overwrite"\r\n\r\ntrue\r\n').encode(),
                 (f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
                  "Content-Type: application/octet-stream\r\n\r\n").encode(), Path(path).read_bytes(),
                 f"\r\n--{boundary}--\r\n".encode()]
        request = urllib.request.Request(self.url + "/upload/image", data=b"".join(parts),
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        answer = json.loads(self._open(request))
        return f"{answer['subfolder']}/{answer['name']}" if answer.get("subfolder") else answer["name"]

    def run(self, graph: dict) -> dict:
        """Queue the graph and return its finished history entry; GraphFailed names the failing node."""
        prompt_id = self._json("/prompt", {"prompt": graph, "client_id": self.client_id})["prompt_id"]
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            entry = self._json(f"/history/{prompt_id}").get(prompt_id)
            status = (entry or {}).get("status") or {}
            if status.get("status_str") == "error":
                raise GraphFailed(describe_error(status))
            if status.get("completed"):
                return entry
            time.sleep(self.poll_s)
        self.cancel(prompt_id)
        raise GraphFailed(f"{self.url}: the graph did not finish within {self.timeout:g}s (--timeout)")

    def cancel(self, prompt_id: str) -> None:
        """Take a timed-out graph off the server (queued: delete; running: interrupt), so the next item does
        not wait behind it. Each worker owns its server's queue, so what runs there is this graph."""
        for route, payload in (("/queue", {"delete": [prompt_id]}), ("/interrupt", {"prompt_id": prompt_id})):
            try:
                self._json(route, payload)
            except (ServerDown, GraphFailed):
                pass  # best effort: the item is recorded as failed either way

    def view(self, file_info: dict) -> bytes:
        query = urllib.parse.urlencode({k: file_info.get(k, "") for k in ("filename", "subfolder", "type")})
        return self._open(urllib.request.Request(f"{self.url}/view?{query}"))


def describe_error(status: dict) -> str:
    for kind, data in status.get("messages", []):
        if kind == "execution_error":
            return (f"node {data.get('node_id')} ({data.get('node_type')}): "
                    f"{data.get('exception_type', 'error')}: {str(data.get('exception_message', '')).strip()}")
    return "the graph failed (no execution_error message in its history)"
