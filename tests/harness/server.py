"""A real ComfyUI server as a subprocess on a free loopback port, driven through its HTTP API."""

import json
import logging
import os
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

from . import host

log = logging.getLogger(__name__)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_paths_yaml(path: Path, models_dir: Path, folders: dict[str, str]) -> Path:
    """extra_model_paths.yaml loading the pack from .host/custom_nodes and models from models_dir."""
    lines = ["genassist_test:", f"  base_path: {models_dir}",
             f"  custom_nodes: {host.custom_nodes_dir()}"]
    lines += [f"  {name}: {sub}" for name, sub in folders.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def comfy_device() -> str:
    """Where the host and e2e layers run ComfyUI: 'cpu' (default, CI) or 'cuda' (GENASSIST_TEST_DEVICE=cuda,
    `make test-gpu`: ComfyUI without --cpu, so models go to the GPU as they do for users)."""
    value = os.environ.get("GENASSIST_TEST_DEVICE", "").strip().lower() or "cpu"
    if value not in ("cpu", "cuda"):
        raise ValueError(f"GENASSIST_TEST_DEVICE must be cpu or cuda, got {value!r}")
    return value


class GraphError(RuntimeError):
    """The server rejected or failed a graph; .payload has its JSON answer."""

    def __init__(self, message: str, payload):
        super().__init__(message)
        self.payload = payload


class ComfyServer:
    def __init__(self, workdir: Path, paths_yaml: Path, extra_args=(), env=None):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output_dir = workdir / "output"
        self.input_dir = workdir / "input"
        for d in (self.output_dir, self.input_dir, workdir / "temp", workdir / "user"):
            d.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / "server.log"
        device_args = ["--cpu"] if comfy_device() == "cpu" else []
        cmd = [host.comfy_python(), "main.py", *device_args, "--listen", "127.0.0.1", "--port", str(self.port),
               "--extra-model-paths-config", str(paths_yaml), "--disable-auto-launch",
               "--output-directory", str(self.output_dir), "--input-directory", str(self.input_dir),
               "--temp-directory", str(workdir / "temp"), "--user-directory", str(workdir / "user"),
               "--disable-all-custom-nodes", "--whitelist-custom-nodes", host.PACK_NAME, *extra_args]
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=host.comfy_dir(), stdout=self._log, stderr=subprocess.STDOUT,
                                     env=env)

    # -- lifecycle -----------------------------------------------------------------------------
    def wait_ready(self, timeout: float = 240) -> "ComfyServer":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI exited ({self.proc.returncode}):\n{self.log_text()[-4000:]}")
            try:
                self.get_json("/system_stats", timeout=2)
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.5)
        raise TimeoutError(f"ComfyUI not ready after {timeout}s:\n{self.log_text()[-4000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    # -- HTTP ----------------------------------------------------------------------------------
    def get_json(self, route: str, timeout: float = 30):
        with urllib.request.urlopen(self.url + route, timeout=timeout) as resp:
            return json.loads(resp.read())

    def post_json(self, route: str, payload, timeout: float = 30):
        req = urllib.request.Request(self.url + route, data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                body = resp.read()
                return json.loads(body) if body else None
        except urllib.error.HTTPError as err:
            body = err.read().decode(errors="replace")
            try:
                payload = json.loads(body)
            except json.JSONDecodeError:
                payload = body
            raise GraphError(f"POST {route} -> HTTP {err.code}: {body[:2000]}", payload) from None

    def object_info(self, node_id: str | None = None) -> dict:
        return self.get_json("/object_info" + (f"/{node_id}" if node_id else ""))

    def upload_image(self, path: Path, name: str | None = None) -> str:
        """Copy an image into the server's input folder (what /upload/image does) and return its name."""
        name = name or path.name
        (self.input_dir / name).write_bytes(Path(path).read_bytes())
        return name

    def view(self, file_info: dict) -> bytes:
        query = urllib.parse.urlencode({k: file_info[k] for k in ("filename", "subfolder", "type")})
        with urllib.request.urlopen(f"{self.url}/view?{query}", timeout=30) as resp:
            return resp.read()

    # -- graphs --------------------------------------------------------------------------------
    def queue(self, graph: dict, workflow: dict | None = None) -> str:
        payload = {"prompt": graph, "client_id": uuid.uuid4().hex}
        if workflow is not None:
            payload["extra_data"] = {"extra_pnginfo": {"workflow": workflow}}
        return self.post_json("/prompt", payload)["prompt_id"]

    def wait(self, prompt_id: str, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            history = self.get_json(f"/history/{prompt_id}")
            entry = history.get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None and (
                    entry["status"].get("completed") or entry["status"].get("status_str") == "error"):
                return entry
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI died:\n{self.log_text()[-4000:]}")
            time.sleep(0.25)
        raise TimeoutError(f"prompt {prompt_id} not done after {timeout}s:\n{self.log_text()[-3000:]}")

    def run(self, graph: dict, timeout: float = 600, workflow: dict | None = None,
            expect_error: bool = False) -> dict:
        """Queue a graph and wait for it; raises GraphError if it fails (unless expect_error)."""
        entry = self.wait(self.queue(graph, workflow), timeout)
        status = entry.get("status", {})
        failed = status.get("status_str") == "error"
        if failed and not expect_error:
            errors = [m for m in status.get("messages", []) if m[0] == "execution_error"]
            raise GraphError(f"graph failed: {json.dumps(errors)[:4000]}", errors)
        if expect_error and not failed:
            raise AssertionError("graph was expected to fail but succeeded")
        return entry

    def execution_error(self, entry: dict) -> dict:
        for kind, data in entry.get("status", {}).get("messages", []):
            if kind == "execution_error":
                return data
        raise AssertionError("no execution_error in history entry")
