"""Shared fixtures. Layers are marked by folder: unit/ host/ e2e/ browser/ (see pyproject markers)."""

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest

# Tests never reach a model hub: every model is a tiny one written by tests/tiny_models.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TESTS_DIR = Path(__file__).resolve().parent
PACK_DIR = TESTS_DIR.parent
# The pack's libraries (mllm, restoration) import as top-level packages in tests. Appended, not
# prepended: ComfyUI's own top-level `nodes` module must win over the pack's nodes/ folder.
for path in (str(TESTS_DIR), str(PACK_DIR)):
    if path not in sys.path:
        sys.path.append(path)

from harness import host  # noqa: E402
from harness.server import ComfyServer, write_paths_yaml  # noqa: E402

LAYERS = ("unit", "host", "e2e", "browser")

# models/<folder> layout of the test models tree shared by the host and server fixtures
MODEL_FOLDERS = {name: name for name in (
    "checkpoints", "vae", "clip", "text_encoders", "diffusion_models", "loras", "LLM", "sams", "diffrir",
)}


def pytest_collection_modifyitems(items):
    for item in items:
        parts = Path(str(item.fspath)).relative_to(TESTS_DIR).parts
        if parts and parts[0] in LAYERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


@pytest.fixture(scope="session")
def models_dir() -> Path:
    """The test models tree (tiny random-weight models, cached across runs)."""
    path = host.HOST_DIR / "test_models"
    for sub in MODEL_FOLDERS.values():
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def tiny(models_dir):
    """Factory of tiny models written into models_dir in their real on-disk formats."""
    from tiny_models import TinyModels

    return TinyModels(models_dir)


@pytest.fixture(scope="session")
def comfy_host(models_dir, tmp_path_factory):
    """The real ComfyUI, in-process: its node registry with GenAssist loaded (CPU)."""
    comfy = str(host.comfy_dir())
    if comfy not in sys.path:
        sys.path.insert(0, comfy)
    import comfy.options

    comfy.options.args_parsing = False
    from comfy.cli_args import args

    args.cpu = True
    args.disable_all_custom_nodes = True
    args.whitelist_custom_nodes = [host.PACK_NAME]
    import folder_paths
    import utils.extra_config

    yaml = write_paths_yaml(tmp_path_factory.mktemp("host") / "paths.yaml", models_dir, MODEL_FOLDERS)
    utils.extra_config.load_extra_path_config(str(yaml))
    folder_paths.set_output_directory(str(tmp_path_factory.mktemp("host_output")))
    import nodes

    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
    return nodes


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
