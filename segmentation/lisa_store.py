"""LISA checkpoints and the CLIP tower they need: which folders are LISA, and downloads (only when asked).

LISA repositories hold PyTorch .bin shards (read with weights_only=True, never unpickled as code); the
CLIP-L/14 folder is fetched as safetensors only.
"""

import json
import os
from collections.abc import Callable

from ..mllm.model_store import ModelMissingError, download_atomically, find_complete, offline
from ..mllm.weights import weight_files

LISA_MODELS = {
    "LISA-7B-v1": "xinlai/LISA-7B-v1",
    "LISA-7B-v1-explanatory": "xinlai/LISA-7B-v1-explanatory",
    "LISA-13B-llama2-v1": "xinlai/LISA-13B-llama2-v1",
    "LISA-13B-llama2-v1-explanatory": "xinlai/LISA-13B-llama2-v1-explanatory",
    "LISA_Plus_7b": "Senqiao/LISA_Plus_7b",
}
VISION_TOWERS = {"clip-vit-large-patch14": "openai/clip-vit-large-patch14"}
DEFAULT_VISION_TOWER = "clip-vit-large-patch14"
_LISA_FILES = ["*.json", "*.bin", "*.safetensors", "*.model", "*.txt"]
_CLIP_FILES = ["*.json", "*.safetensors", "*.txt"]


def is_lisa_folder(folder: str) -> bool:
    """A LISA checkpoint folder: LISAForCausalLM in config.json, or LISA's out_dim next to mm_* keys."""
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return False
    architectures = " ".join(config.get("architectures") or []).lower()
    return "lisa" in architectures or ("out_dim" in config and "mm_hidden_size" in config)


def _downloader_with(patterns: list[str], downloader=None):
    if downloader is None:
        from huggingface_hub import snapshot_download as downloader

    def download(**kwargs):
        return downloader(**{**kwargs, "allow_patterns": patterns})

    return download


def _check_download(name: str, catalog: dict, target: str, what: str) -> None:
    if offline():
        raise ModelMissingError(f"{what} '{name}' is not on disk and HF_HUB_OFFLINE=1 forbids downloading it. "
                                f"Run on a machine with network: huggingface-cli download {catalog[name]} "
                                f"--local-dir \"{target}\"")


def resolve_lisa(name: str, search_dirs: list[str], download: bool = False,
                 downloader: Callable[..., object] | None = None) -> str:
    found = find_complete(name, search_dirs)
    if found:
        return found
    target = os.path.join(search_dirs[0], name)
    repo = LISA_MODELS.get(name)
    how = (f"turn on 'download', or run: huggingface-cli download {repo} --local-dir \"{target}\"" if repo
           else f"put a LISA checkpoint folder at \"{target}\" (config.json, tokenizer, weight shards)")
    if not download or repo is None:
        raise ModelMissingError(f"no complete LISA folder '{name}' in {', '.join(search_dirs)}. {how}")
    _check_download(name, LISA_MODELS, target, "LISA model")
    return download_atomically(repo, target, _downloader_with(_LISA_FILES, downloader))


def find_vision_tower(name: str, search_dirs: list[str]) -> str | None:
    for base in search_dirs:
        folder = os.path.join(base, name)
        if os.path.isfile(os.path.join(folder, "config.json")) and weight_files(folder):
            return folder
    return None


def resolve_vision_tower(name: str, search_dirs: list[str], download: bool = False,
                         downloader: Callable[..., object] | None = None) -> str:
    found = find_vision_tower(name, search_dirs)
    if found:
        return found
    target = os.path.join(search_dirs[0], name)
    repo = VISION_TOWERS.get(name)
    if not download or repo is None:
        how = (f"turn on 'download', or run: huggingface-cli download {repo} --include '*.json' "
               f"'*.safetensors' --local-dir \"{target}\"" if repo else
               f"put a CLIP vision model folder (config.json + weights) at \"{target}\"")
        raise ModelMissingError(f"LISA needs the CLIP vision tower '{name}' (not inside LISA checkpoints); "
                                f"it is not in {', '.join(search_dirs)}. {how}")
    _check_download(name, VISION_TOWERS, target, "CLIP vision tower")
    return download_atomically(repo, target, _downloader_with(_CLIP_FILES, downloader))
