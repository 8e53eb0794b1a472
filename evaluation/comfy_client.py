"""The few calls of a running ComfyUI server's HTTP API that running a workflow over a dataset needs:
upload an image (/upload/image), queue a graph (/prompt), wait for its history entry (/history/<id>) and
fetch an output file (/view). A ServerDown means the server itself is unreachable (its items go to the
other servers); a GraphFailed means this item's graph failed (the item is recorded as failed), or the server
refused a request (HTTP error). The pack's e2e tests drive their server through this client too."""

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
        except OSError as err:  # URLError, refused or reset connections and timeouts are all OSErrors
            raise ServerDown(f"{self.url} is unreachable: {err}") from None

    def get_json(self, route: str, timeout: float = 60.0):
        body = self._open(urllib.request.Request(self.url + route), timeout)
        return json.loads(body) if body else None

    def post_json(self, route: str, payload, timeout: float = 60.0):
        request = urllib.request.Request(self.url + route, data=json.dumps(payload).encode(),
                                         headers={"Content-Type": "application/json"})
        body = self._open(request, timeout)
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

    def queue(self, graph: dict, extra_data: dict | None = None) -> str:
        """Queue the graph (extra_data: e.g. the UI workflow for the saved files' metadata); its prompt id."""
        payload = {"prompt": graph, "client_id": self.client_id}
        if extra_data is not None:
            payload["extra_data"] = extra_data
        return self.post_json("/prompt", payload)["prompt_id"]

    def wait(self, prompt_id: str, timeout: float | None = None) -> dict | None:
        """The graph's history entry once it has finished or failed; None when it has not within timeout
        seconds (default: the client's)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while time.monotonic() < deadline:
            entry = self.get_json(f"/history/{prompt_id}").get(prompt_id)
            status = (entry or {}).get("status") or {}
            if status.get("completed") or status.get("status_str") == "error":
                return entry
            time.sleep(self.poll_s)
        return None

    def run(self, graph: dict) -> dict:
        """Queue the graph and return its finished history entry; GraphFailed names the failing node."""
        prompt_id = self.queue(graph)
        entry = self.wait(prompt_id)
        if entry is None:
            self.cancel(prompt_id)
            raise GraphFailed(f"{self.url}: the graph did not finish within {self.timeout:g}s (--timeout)")
        if entry["status"].get("status_str") == "error":
            raise GraphFailed(describe_error(entry["status"]))
        return entry

    def cancel(self, prompt_id: str) -> None:
        """Take a timed-out graph off the server (queued: delete; running: interrupt), so the next item does
        not wait behind it. Each worker owns its server's queue, so what runs there is this graph."""
        for route, payload in (("/queue", {"delete": [prompt_id]}), ("/interrupt", {"prompt_id": prompt_id})):
            try:
                self.post_json(route, payload)
            except (ServerDown, GraphFailed):
                pass  # best effort: the item is recorded as failed either way

    def view(self, file_info: dict) -> bytes:
        query = urllib.parse.urlencode({k: file_info.get(k, "") for k in ("filename", "subfolder", "type")})
        return self._open(urllib.request.Request(f"{self.url}/view?{query}"))


def output_images(entry: dict, node_id: str) -> list[dict]:
    """The files (filename, subfolder, type: what /view takes) an image output node wrote in this run."""
    return (entry.get("outputs", {}).get(node_id) or {}).get("images") or []


def execution_error(status: dict) -> dict | None:
    """The execution_error message of a failed graph's history status (node_id, node_type, exception...)."""
    return next((data for kind, data in status.get("messages", []) if kind == "execution_error"), None)


def describe_error(status: dict) -> str:
    data = execution_error(status)
    if data is None:
        return "the graph failed (no execution_error message in its history)"
    return (f"node {data.get('node_id')} ({data.get('node_type')}): "
            f"{data.get('exception_type', 'error')}: {str(data.get('exception_message', '')).strip()}")
