"""LISA checkpoints and the CLIP tower they need, under models/LLM: which folders are LISA, completeness,
and downloads (only when asked), through model_store's shared folder resolution (offline first, atomic).

LISA repositories hold PyTorch .bin shards (read with weights_only=True, never unpickled as code); the
CLIP-L/14 folder is fetched as safetensors only.
"""

import json
import os
from collections.abc import Callable

from ..mllm.model_store import FolderKind, hub_fetch_hint, missing_files, resolve_folder

LISA_MODELS = {
    "LISA-7B-v1": "xinlai/LISA-7B-v1",
    "LISA-7B-v1-explanatory": "xinlai/LISA-7B-v1-explanatory",
    "LISA-13B-llama2-v1": "xinlai/LISA-13B-llama2-v1",
    "LISA-13B-llama2-v1-explanatory": "xinlai/LISA-13B-llama2-v1-explanatory",
    "LISA_Plus_7b": "Senqiao/LISA_Plus_7b",
}
VISION_TOWERS = {"clip-vit-large-patch14": "openai/clip-vit-large-patch14"}
DEFAULT_VISION_TOWER = "clip-vit-large-patch14"
_LISA_FILES = ("*.json", "*.bin", "*.safetensors", "*.model", "*.txt")
_CLIP_FILES = ("*.json", "*.safetensors", "*.txt")


def is_lisa_folder(folder: str) -> bool:
    """A LISA checkpoint folder: LISAForCausalLM in config.json, or LISA's out_dim next to mm_* keys."""
    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, ValueError):
        return False
    architectures = " ".join(config.get("architectures") or []).lower()
    return "lisa" in architectures or ("out_dim" in config and "mm_hidden_size" in config)


def missing_lisa_files(folder: str) -> list[str]:
    """What a loadable LISA folder lacks: config, every weight shard (LISA ships .bin shards), a tokenizer."""
    return missing_files(folder, needs_tokenizer=True, weights="weight shards (*.bin or *.safetensors)")


def missing_tower_files(folder: str) -> list[str]:
    """What a CLIP vision tower folder lacks: config and weights (LISA brings its own tokenizer)."""
    return missing_files(folder, needs_tokenizer=False, weights="weights (*.safetensors)")


LISA_FOLDERS = FolderKind("LISA", missing_lisa_files,
                          hub_fetch_hint(LISA_MODELS, "a LISA checkpoint folder", "config.json, tokenizer, weight shards"),
                          LISA_MODELS,
                          expected="Expected a LISA checkpoint: config.json, a tokenizer and its weight shards. ",
                          allow_patterns=_LISA_FILES)
TOWER_FOLDERS = FolderKind("CLIP vision tower", missing_tower_files,
                           hub_fetch_hint(VISION_TOWERS, "a CLIP vision model folder", "config.json + weights",
                                          include=" --include '*.json' '*.safetensors'"),
                           VISION_TOWERS,
                           expected="LISA needs this CLIP vision tower (it is not inside LISA checkpoints): "
                                    "config.json and weights. ",
                           allow_patterns=_CLIP_FILES)


def resolve_lisa(name: str, search_dirs: list[str], download: bool = False,
                 downloader: Callable[..., object] | None = None) -> str:
    """Folder of a complete LISA checkpoint called ``name`` under models/LLM."""
    return resolve_folder(LISA_FOLDERS, name, search_dirs, download, downloader)


def resolve_vision_tower(name: str, search_dirs: list[str], download: bool = False,
                         downloader: Callable[..., object] | None = None) -> str:
    """Folder of the CLIP vision tower ``name`` (under models/LLM) that LISA's checkpoints leave out."""
    return resolve_folder(TOWER_FOLDERS, name, search_dirs, download, downloader)
