"""The real ComfyUI in this process: its node registry with GenAssist loaded (for host tests and benches)."""

import asyncio
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
