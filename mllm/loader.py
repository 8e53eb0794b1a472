"""Load any supported model folder as an MLLMBackend (legacy LLaVA layout or native transformers)."""

import json
import logging
import os

import torch

from .hf_backend import TransformersBackend
from .legacy_backend import LegacyLlavaBackend
from .legacy_llava import is_legacy_llava_config, load_legacy_llava, read_spec
from .model_store import folder_revision

log = logging.getLogger(__name__)


def is_legacy_folder(folder: str) -> bool:
    with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
        return is_legacy_llava_config(json.load(f))


def vision_tower_name(folder: str) -> str:
    """Folder name of the separate CLIP tower a legacy checkpoint names (e.g. clip-vit-large-patch14-336)."""
    return os.path.basename(read_spec(folder).vision_tower.rstrip("/"))


def load_backend(folder: str, dtype=torch.float32, quantization: str = "none", device=None,
                 vision_dir: str | None = None, trust_remote_code: bool = False):
    revision = folder_revision(folder)
    if is_legacy_folder(folder):
        if quantization != "none":
            raise ValueError("8/4-bit loading is not supported for legacy LLaVA checkpoints; set quantization "
                             "to none")
        from transformers import AutoTokenizer

        model = load_legacy_llava(folder, dtype=dtype, vision_dir=vision_dir)
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        return LegacyLlavaBackend(model, tokenizer, revision=revision)
    return TransformersBackend(folder, dtype=dtype, revision=revision, quantization=quantization,
                               device=device, trust_remote_code=trust_remote_code)
