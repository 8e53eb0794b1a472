"""A real ComfyUI server as a subprocess on a free loopback port, driven through its HTTP API with the
evaluation package's client (the same calls its workflow runner makes)."""

import json
import logging
import os
import socket
import subprocess
import time
from pathlib import Path

from . import host
from .pack import register_pack

register_pack()
from genassist.evaluation.comfy_client import (  # noqa: E402  (the pack is importable once registered)
    ComfyClient,
    GraphFailed,
    ServerDown,
    execution_error,
)

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


class ComfyServer:
    def __init__(self, workdir: Path, paths_yaml: Path, extra_args=(), env=None):
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = ComfyClient(self.url)
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
            except (ServerDown, GraphFailed):  # not listening yet, or not answering yet
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
        return self.client.get_json(route, timeout)

    def post_json(self, route: str, payload, timeout: float = 30):
        return self.client.post_json(route, payload, timeout)

    def object_info(self, node_id: str | None = None) -> dict:
        return self.get_json("/object_info" + (f"/{node_id}" if node_id else ""))

    def upload_image(self, path: Path, name: str | None = None) -> str:
        """Upload an image into the server's input folder (overwriting); the name LoadImage takes."""
        return self.client.upload_image(path, name or Path(path).name)

    def view(self, file_info: dict) -> bytes:
        return self.client.view(file_info)

    # -- graphs --------------------------------------------------------------------------------
    def queue(self, graph: dict, workflow: dict | None = None) -> str:
        return self.client.queue(graph, None if workflow is None else {"extra_pnginfo": {"workflow": workflow}})

    def wait(self, prompt_id: str, timeout: float = 600) -> dict:
        try:
            entry = self.client.wait(prompt_id, timeout)
        except ServerDown:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ComfyUI died:\n{self.log_text()[-4000:]}") from None
            raise
        if entry is None:
            raise TimeoutError(f"prompt {prompt_id} not done after {timeout}s:\n{self.log_text()[-3000:]}")
        return entry

    def run(self, graph: dict, timeout: float = 600, workflow: dict | None = None,
            expect_error: bool = False) -> dict:
        """Queue a graph and wait for it; raises GraphFailed if it fails (unless expect_error)."""
        entry = self.wait(self.queue(graph, workflow), timeout)
        failed = entry["status"].get("status_str") == "error"
        if failed and not expect_error:
            raise GraphFailed(f"graph failed: {json.dumps(execution_error(entry['status']))[:4000]}")
        if expect_error and not failed:
            raise AssertionError("graph was expected to fail but succeeded")
        return entry

    def execution_error(self, entry: dict) -> dict:
        error = execution_error(entry.get("status", {}))
        assert error is not None, "no execution_error in history entry"
        return error
