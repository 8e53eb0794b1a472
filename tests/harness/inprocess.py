"""The real ComfyUI in this process: its node registry with GenAssist loaded (for host tests and benches), and
the few things host tests make from it: a node instance, a module of the pack as loaded, an MLLM on a
scripted server, a noise picture."""

import asyncio
import importlib
import inspect
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


def node(comfy_host, node_id: str) -> "NodeCall":
    """A node of the host's registry, called the way ComfyUI's executor calls it (V1 or V3)."""
    return NodeCall(comfy_host.NODE_CLASS_MAPPINGS[node_id])


class NodeCall:
    """``node(*args, unique_id=None, **inputs) -> tuple``: the node's outputs, run through the host's own
    ``execution._async_map_node_over_list`` (V3 nodes get their class clone and hidden values there).
    Positional arguments follow the node's input order (required, then optional). ``.ui`` holds the last
    call's UI output."""

    def __init__(self, node_class):
        self.node_class = node_class
        self.ui = None

    def input_names(self) -> list[str]:
        spec = self.node_class.INPUT_TYPES()
        return [*spec.get("required", {}), *spec.get("optional", {})]

    def INPUT_TYPES(self) -> dict:  # noqa: N802 - the host's name
        return self.node_class.INPUT_TYPES()

    def choices(self, name: str) -> list:
        """A combo input's options, whether the node declares it as V1 (``[options, {...}]``) or V3
        (``["COMBO", {"options": ...}]``)."""
        spec = self.INPUT_TYPES()
        kind, opts = {**spec.get("required", {}), **spec.get("optional", {})}[name][:2]
        return list(kind) if isinstance(kind, list | tuple) else list(opts["options"])

    def __call__(self, *args, unique_id=None, **inputs) -> tuple:
        import execution
        from comfy_api.latest import io

        names = self.input_names()
        if len(args) > len(names):
            raise TypeError(f"{len(args)} positional inputs, the node has {len(names)}")
        inputs = {**dict(zip(names, args)), **inputs}
        hidden = self.node_class.INPUT_TYPES().get("hidden", {})
        obj = self.node_class()
        data = {name: [value] for name, value in inputs.items()}
        extra = {}
        if isinstance(obj, io.ComfyNode):
            values = {io.Hidden.unique_id: unique_id}
            params = inspect.signature(execution._async_map_node_over_list).parameters
            extra = {"v3_data": {"hidden_inputs": values}} if "v3_data" in params else {"hidden_inputs": values}
        elif "unique_id" in hidden:
            data["unique_id"] = [unique_id]
        (result,) = asyncio.run(execution._async_map_node_over_list(
            None, unique_id, obj, data, obj.FUNCTION, **extra))
        return self._outputs(result)

    def _outputs(self, result) -> tuple:
        from comfy_api.latest import io

        if isinstance(result, io.NodeOutput):
            self.ui = result.ui.as_dict() if hasattr(result.ui, "as_dict") else result.ui
            return tuple(result.result or ())
        if isinstance(result, dict):
            self.ui = result.get("ui")
            return tuple(result.get("result") or ())
        return tuple(result)


def pack_module(comfy_host, name: str):
    """A module of the pack as ComfyUI loaded it, e.g. ``nodes._oom`` (the nodes use these modules, not the
    ``genassist`` copy the tests import, so patches and isinstance checks must aim here)."""
    package = comfy_host.NODE_CLASS_MAPPINGS["GenAssist_Restore"].__module__.rsplit(".", 2)[0]
    return importlib.import_module(f"{package}.{name}")


def server_mllm(comfy_host, server, **options):
    """The MLLM Server node's GENASSIST_MLLM on a scripted OpenAI-compatible server; options are the node's
    own (timeout_s, stream, cache_answers), its defaults where not given."""
    (mllm,) = node(comfy_host, "GenAssist_MLLMServer")(server.base_url, "scripted", "", **options)
    return mllm


def image_tensor(height: int = 96, width: int = 160, seed: int = 0):
    """A seeded noise picture: the IMAGE tensor [1,H,W,3] a node gets and its uint8 pixels [H,W,3]."""
    import numpy as np
    import torch

    pixels = (np.random.RandomState(seed).rand(height, width, 3) * 255).astype(np.uint8)
    return torch.from_numpy(pixels).float().div(255).unsqueeze(0), pixels
