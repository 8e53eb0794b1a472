"""The workflow runner's sharing of items between servers: an item handed back by a server that went down is
taken by a server that had already found the list empty, not recorded as "no server left"."""

import io
import threading
from pathlib import Path

from genassist.evaluation import workflow_runner
from genassist.evaluation.comfy_client import ServerDown
from genassist.evaluation.workflow_bind import Task


class Client:
    def __init__(self, url: str, timeout: float = 0.0):
        self.url = url


def test_an_item_handed_back_late_is_taken_by_an_idle_server(tmp_path, monkeypatch):
    tasks = [Task(f"item{i}", tmp_path / f"item{i}.png", "mask") for i in range(2)]
    idle = threading.Event()  # set when the healthy server found nothing left to take
    real_take = workflow_runner.TaskPool.take
    ran: list[tuple[str, str]] = []

    def take(self):
        with self._changed:
            if not self._tasks:
                idle.set()
        return real_take(self)

    def run_task(client, workflow, task):
        if client.url == "http://down":
            assert idle.wait(10), "the healthy server never went idle"
            raise ServerDown("connection refused")
        ran.append((client.url, task.key))
        Path(task.output).write_bytes(b"png")

    monkeypatch.setattr(workflow_runner, "ComfyClient", Client)
    monkeypatch.setattr(workflow_runner.TaskPool, "take", take)
    monkeypatch.setattr(workflow_runner, "run_task", run_task)
    summary = workflow_runner.run_workflow(tasks, None, ["http://down", "http://up"], tmp_path,
                                           stream=io.StringIO())
    assert sorted(ran) == [("http://up", "item0"), ("http://up", "item1")]
    assert (summary["done"], summary["failed"], summary["failures"]) == (2, 0, {})
    assert summary["servers_down"] == ["http://down: connection refused"]
