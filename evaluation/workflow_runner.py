"""Run a bound workflow over a dataset's tasks on one or more ComfyUI servers: one worker (one queue) per
server pulling from a shared list, so a farm of GPUs runs a benchmark as easily as one. A server that
cannot be reached hands its item back and stops; the others take the rest. A graph that fails is recorded
for that item (PRED/failures.json) and the run goes on. Predictions already on disk are skipped, so an
interrupted run resumes where it stopped; failed items are tried again on the next run."""

import io
import json
import os
import threading
from pathlib import Path

from PIL import Image

from .comfy_client import ComfyClient, GraphFailed, ServerDown, output_images
from .progress import Progress
from .workflow_bind import BoundWorkflow, Task

FAILURES_FILE = "failures.json"


def save_png(image: Image.Image, path: Path) -> None:
    """Write atomically (temp + rename), so a half-written file never counts as finished."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(path.name + ".part")
    image.save(temp, format="PNG")
    os.replace(temp, path)


def save_prediction(data: bytes, task: Task) -> None:
    with Image.open(io.BytesIO(data)) as image:
        save_png(image.convert("L" if task.kind == "mask" else "RGB"), task.output)


def run_task(client: ComfyClient, workflow: BoundWorkflow, task: Task) -> None:
    uploaded = {name: client.upload_image(path, f"genassist_eval_{task.key}_{name}{Path(path).suffix.lower()}")
                for name, path in task.files.items()}
    entry = client.run(workflow.fill(uploaded, task.texts))
    images = output_images(entry, workflow.output_node)
    if not images:
        raise GraphFailed(f"the node titled 'eval:output' ({workflow.output_node}) produced no image: it must be a "
                          "SaveImage or PreviewImage that the graph runs")
    save_prediction(client.view(images[0]), task)


class FailureLog:
    def __init__(self, folder: Path):
        self.path = Path(folder) / FAILURES_FILE
        self.entries = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self._lock = threading.Lock()

    def record(self, key: str, error: str | None, server: str = "") -> None:
        with self._lock:
            if error is None:
                if self.entries.pop(key, None) is None:
                    return  # it never failed: nothing to write
            else:
                self.entries[key] = {"error": error, "server": server}
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.entries, indent=2))


class Outcomes:
    """What each item of a run came to, kept in one place for every worker: failures.json, the progress
    line and the counts."""

    def __init__(self, predictions, total: int, stream=None):
        self.failures = FailureLog(predictions)
        self.progress = Progress(total, stream)
        self.counts = {"done": 0, "failed": 0}
        self._lock = threading.Lock()

    def done(self, task: Task, status: str = "ok") -> None:
        self.failures.record(task.key, None)
        self._count("done")
        self.progress.step(task.key, status)

    def failed(self, task: Task, error: str, server: str = "") -> None:
        self.failures.record(task.key, error, server)
        self._count("failed")
        self.progress.step(task.key, f"FAILED ({error})")

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.counts[outcome] += 1


def run_workflow(tasks: list[Task], workflow: BoundWorkflow, servers: list[str], predictions,
                 timeout: float = 600.0, stream=None) -> dict:
    """Returns {"total", "skipped", "done", "failed", "failures": {key: error}, "servers_down": [...]}."""
    clients = [ComfyClient(url, timeout=timeout) for url in servers]
    if not clients:
        raise ValueError("give at least one --server URL of a running ComfyUI")
    pending = [t for t in tasks if not t.output.is_file()]
    work = TaskPool(pending)
    outcomes = Outcomes(predictions, len(pending), stream)
    down: list[str] = []
    lock = threading.Lock()

    def worker(client: ComfyClient) -> None:
        while (task := work.take()) is not None:
            try:
                run_task(client, workflow, task)
            except ServerDown as err:
                work.hand_back(task)  # not this item's fault: another server takes it
                with lock:
                    down.append(f"{client.url}: {err}")
                return
            except Exception as err:  # noqa: BLE001 - one item's failure is recorded, the run goes on
                outcomes.failed(task, f"{type(err).__name__}: {err}", client.url)
            else:
                outcomes.done(task, f"ok on {client.url}")
            work.finished()

    threads = [threading.Thread(target=worker, args=(c,), daemon=True) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for task in work.left():  # every server went down: what is left is recorded, not dropped
        outcomes.failed(task, "no server left: " + "; ".join(down))
    return {"total": len(tasks), "skipped": len(tasks) - len(pending), **outcomes.counts,
            "failures": dict(outcomes.failures.entries), "servers_down": down}


class TaskPool:
    """The tasks left, shared by the workers. A worker finding it empty waits while others still run an item,
    since a server going down hands its item back and someone must take it."""

    def __init__(self, tasks: list[Task]):
        self._tasks = list(reversed(tasks))
        self._running = 0
        self._changed = threading.Condition()

    def take(self) -> Task | None:
        """The next task, or None when there is none left and none running."""
        with self._changed:
            while not self._tasks:
                if self._running == 0:
                    return None
                self._changed.wait()
            self._running += 1
            return self._tasks.pop()

    def finished(self) -> None:
        with self._changed:
            self._running -= 1
            self._changed.notify_all()

    def hand_back(self, task: Task) -> None:
        with self._changed:
            self._tasks.append(task)
            self._running -= 1
            self._changed.notify_all()

    def left(self) -> list[Task]:
        return list(reversed(self._tasks))
