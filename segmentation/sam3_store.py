"""SAM 3 folders (Hugging Face layout) under models/sams: completeness check and the optional download.

A folder holds config.json, the weights (model.safetensors, or an index and its shards), the processor
config and the CLIP tokenizer files. A complete folder never touches the network; HF_HUB_OFFLINE=1 forbids
downloading; a download goes to a temp folder beside the target and is renamed into place only once it
is complete.
"""

import os
from collections.abc import Callable

from ..mllm.model_store import FolderKind, hub_fetch_hint, resolve_folder
from ..mllm.model_store import missing_files as model_files_missing

OFFICIAL = {"sam3": "facebook/sam3"}  # folder name under models/sams -> Hugging Face repository
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.json")
_ALLOW = ["*.json", "*.safetensors", "*.txt"]  # the repository's .pt (original format) is not needed
GATED_HINT = ("{repo} is gated: accept its licence on huggingface.co, then log in (huggingface-cli login) or "
              "set HF_TOKEN")


class Sam3MissingError(FileNotFoundError):
    """No complete SAM 3 folder (the message names the folder, the missing files and how to fetch them)."""


def missing_files(folder: str) -> list[str]:
    """What a loadable SAM 3 folder lacks, by file name: a model folder's config and weights, then the
    processor config and the CLIP tokenizer."""
    missing = model_files_missing(folder, needs_tokenizer=False, weights="model.safetensors")
    if not any(os.path.isfile(os.path.join(folder, f)) for f in PROCESSOR_FILES):
        missing.append(PROCESSOR_FILES[0])
    if not any(os.path.isfile(os.path.join(folder, f)) for f in TOKENIZER_FILES):
        missing.append(f"{TOKENIZER_FILES[0]} (the CLIP tokenizer)")
    return missing


fetch_hint = hub_fetch_hint(OFFICIAL, "a SAM 3 folder in the Hugging Face layout",
                            "config.json, model.safetensors, processor_config.json, tokenizer.json",
                            note=f" ({GATED_HINT})")


SAM3_FOLDERS = FolderKind("SAM 3", missing_files, fetch_hint, OFFICIAL, error=Sam3MissingError,
                          allow_patterns=tuple(_ALLOW), failure_hint=GATED_HINT)


def resolve_sam3(name: str, search_dirs: list[str], download: bool = False,
                 downloader: Callable[..., object] | None = None) -> str:
    """Folder of a complete SAM 3 copy called ``name`` under models/sams."""
    return resolve_folder(SAM3_FOLDERS, name, search_dirs, download, downloader)


def is_sam3_folder(folder: str) -> bool:
    """A folder whose config.json says model_type sam3 (what the loader lists)."""
    import json

    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            return json.load(f).get("model_type") in ("sam3", "sam3_video")
    except (OSError, ValueError, AttributeError):
        return False
