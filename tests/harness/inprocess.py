"""The real ComfyUI in this process: its node registry with GenAssist loaded (for host tests and benches), and
the few things host tests make from it: a node instance, a module of the pack as loaded, an MLLM on a
scripted server, a noise picture."""

import asyncio
import importlib
import sys
from pathlib import Path

from . import host
from .server import comfy_device, write_paths_yaml

# models/<folder> layout of the test models tree shared by the in-process host and the server
MODEL_FOLDERS = {name: name for name in (
    "checkpoints", "vae", "clip", "text_encoders", "diffusion_models", "loras", "LLM", "sams", "diffrir",
)}


def ensure_models_tree(models_dir: Path) -> Path:
    for sub in MODEL_FOLDERS.values():
        (models_dir / sub).mkdir(parents=True, exist_ok=True)
    return models_dir


def start_comfy(models_dir: Path, work_dir: Path, cpu: bool | None = None):
    """Import ComfyUI, point its folders at models_dir, load the built-in and GenAssist nodes; returns its
    `nodes` module. Once per process. cpu: None = as GENASSIST_TEST_DEVICE says (CPU unless 'cuda')."""
    comfy = str(host.comfy_dir())
    if comfy not in sys.path:
        sys.path.insert(0, comfy)
    import comfy.options

    comfy.options.args_parsing = False
    from comfy.cli_args import args

    args.cpu = comfy_device() == "cpu" if cpu is None else cpu
    args.disable_all_custom_nodes = True
    args.whitelist_custom_nodes = [host.PACK_NAME]
    import folder_paths
    import utils.extra_config

    yaml = write_paths_yaml(work_dir / "paths.yaml", ensure_models_tree(models_dir), MODEL_FOLDERS)
    utils.extra_config.load_extra_path_config(str(yaml))
    (work_dir / "output").mkdir(parents=True, exist_ok=True)
    folder_paths.set_output_directory(str(work_dir / "output"))
    import nodes

    asyncio.run(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
    return nodes


def node(comfy_host, node_id: str):
    """An instance of a node class from the host's registry, as ComfyUI makes one to run it."""
    return comfy_host.NODE_CLASS_MAPPINGS[node_id]()


def pack_module(comfy_host, name: str):
    """A module of the pack as ComfyUI loaded it, e.g. ``nodes._oom`` (the nodes use these modules, not the
    ``genassist`` copy the tests import, so patches and isinstance checks must aim here)."""
    package = comfy_host.NODE_CLASS_MAPPINGS["GenAssist_Restore"].__module__.rsplit(".", 2)[0]
    return importlib.import_module(f"{package}.{name}")


def server_mllm(comfy_host, server, **options):
    """The MLLM Server node's GENASSIST_MLLM on a scripted OpenAI-compatible server; options are the node's
    own (timeout_s, stream, cache_answers), its defaults where not given."""
    (mllm,) = node(comfy_host, "GenAssist_MLLMServer").connect(server.base_url, "scripted", "", **options)
    return mllm


def image_tensor(height: int = 96, width: int = 160, seed: int = 0):
    """A seeded noise picture: the IMAGE tensor [1,H,W,3] a node gets and its uint8 pixels [H,W,3]."""
    import numpy as np
    import torch

    pixels = (np.random.RandomState(seed).rand(height, width, 3) * 255).astype(np.uint8)
    return torch.from_numpy(pixels).float().div(255).unsqueeze(0), pixels
