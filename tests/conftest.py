"""Shared fixtures. Layers are marked by folder: unit/ host/ e2e/ browser/ (markers in pytest.ini)."""

import os
import shutil
import sys
from pathlib import Path

import pytest

# Tests never reach a model hub: every model is a tiny one written by tests/tiny_models.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TESTS_DIR = Path(__file__).resolve().parent
if str(TESTS_DIR) not in sys.path:
    sys.path.append(str(TESTS_DIR))

from harness import host  # noqa: E402
from harness.pack import register_pack  # noqa: E402

register_pack()  # tests import the pack's libraries as genassist.<package>
from harness.inprocess import MODEL_FOLDERS, ensure_models_tree, start_comfy  # noqa: E402
from harness.server import ComfyServer, write_paths_yaml  # noqa: E402

LAYERS = ("unit", "host", "e2e", "browser")


def pytest_collection_modifyitems(items):
    for item in items:
        parts = Path(str(item.fspath)).relative_to(TESTS_DIR).parts
        if parts and parts[0] in LAYERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The test models tree (tiny random-weight models, cached across runs)."""
    return ensure_models_tree(host.HOST_DIR / "test_models")


@pytest.fixture(scope="session")
def tiny(models_dir):
    """Factory of tiny models written into models_dir in their real on-disk formats."""
    from tiny_models import TinyModels

    return TinyModels(models_dir)


@pytest.fixture(scope="session")
def comfy_host(models_dir, tmp_path_factory):
    """The real ComfyUI, in-process: its node registry with GenAssist loaded (CPU)."""
    return start_comfy(models_dir, tmp_path_factory.mktemp("host"))


@pytest.fixture(scope="session")
def comfy_server(models_dir, tmp_path_factory):
    """One real ComfyUI server subprocess for the session, on a free loopback port, with GenAssist."""
    work = tmp_path_factory.mktemp("server")
    yaml = write_paths_yaml(work / "paths.yaml", models_dir, MODEL_FOLDERS)
    server = ComfyServer(work, yaml, env=server_env())
    try:
        yield server.wait_ready()
    finally:
        server.stop()
        shutil.copy(server.log_path, host.artifacts_dir() / "server.log")


def server_env() -> dict:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env
