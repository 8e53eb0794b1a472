"""SAM 3 folders (Hugging Face layout) under models/sams: completeness check and the optional download.

A folder holds config.json, the weights (model.safetensors, or an index and its shards), the processor
config and the CLIP tokenizer files. A complete folder never touches the network; HF_HUB_OFFLINE=1 forbids
downloading; a download goes to a temp folder beside the target and is renamed into place only once it
is complete.
"""

import logging
import os
from collections.abc import Callable

from ..mllm.model_store import download_atomically, offline
from ..mllm.weights import SAFETENSORS_INDEX, weight_files

log = logging.getLogger(__name__)

OFFICIAL = {"sam3": "facebook/sam3"}  # folder name under models/sams -> Hugging Face repository
PROCESSOR_FILES = ("processor_config.json", "preprocessor_config.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.json")
_ALLOW = ["*.json", "*.safetensors", "*.txt"]  # the repository's .pt (original format) is not needed
GATED_HINT = ("{repo} is gated: accept its licence on huggingface.co, then log in (huggingface-cli login) or "
              "set HF_TOKEN")


class Sam3MissingError(FileNotFoundError):
    """No complete SAM 3 folder (the message names the folder, the missing files and how to fetch them)."""


def missing_files(folder: str) -> list[str]:
    """What a loadable SAM 3 folder lacks, by file name."""
    if not os.path.isdir(folder):
        return ["config.json", "model.safetensors", PROCESSOR_FILES[0], TOKENIZER_FILES[0]]
    missing = [] if os.path.isfile(os.path.join(folder, "config.json")) else ["config.json"]
    index = os.path.join(folder, SAFETENSORS_INDEX)
    if os.path.isfile(index):
        try:
            shards = weight_files(folder)
        except (OSError, ValueError, KeyError):
            shards, missing = [], missing + [f"{SAFETENSORS_INDEX} (unreadable)"]
        missing += [os.path.basename(s) for s in shards if not os.path.isfile(s)]
    elif not os.path.isfile(os.path.join(folder, "model.safetensors")):
        missing.append("model.safetensors")
    if not any(os.path.isfile(os.path.join(folder, f)) for f in PROCESSOR_FILES):
        missing.append(PROCESSOR_FILES[0])
    if not any(os.path.isfile(os.path.join(folder, f)) for f in TOKENIZER_FILES):
        missing.append(f"{TOKENIZER_FILES[0]} (the CLIP tokenizer)")
    return missing


def fetch_hint(name: str, target: str) -> str:
    repo = OFFICIAL.get(name)
    if repo:
        return (f"turn on 'download' in the loader, or run: huggingface-cli download {repo} --local-dir "
                f"\"{target}\" ({repo} is gated: accept its licence on huggingface.co and log in with "
                "huggingface-cli login or set HF_TOKEN)")
    return (f"put a SAM 3 folder in the Hugging Face layout at \"{target}\" (config.json, model.safetensors, "
            "processor_config.json, tokenizer.json)")


def resolve_sam3(name: str, search_dirs: list[str], download: bool = False,
                 downloader: Callable[..., object] | None = None) -> str:
    """Folder of a complete SAM 3 copy called ``name``; downloads into search_dirs[0] only when asked."""
    if not name or os.sep in name or "/" in name or name.startswith("."):
        raise ValueError(f"invalid SAM 3 folder name {name!r}: pick a folder in models/sams")
    folders = [os.path.join(base, name) for base in search_dirs]
    for folder in folders:
        if os.path.isdir(folder) and not missing_files(folder):
            return folder
    target = folders[0] if folders else os.path.join("models", "sams", name)
    partial = next((f for f in folders if os.path.isdir(f)), None)
    if not download:
        if partial:
            raise Sam3MissingError(f"SAM 3 folder {partial} is incomplete, missing: "
                                   f"{', '.join(missing_files(partial))}. {fetch_hint(name, partial)}")
        raise Sam3MissingError(f"no SAM 3 folder '{name}' in {', '.join(search_dirs) or 'models/sams'}. "
                               f"{fetch_hint(name, target)}")
    if offline():
        raise Sam3MissingError(f"SAM 3 '{name}' is not complete on disk and HF_HUB_OFFLINE=1 forbids "
                               f"downloading it. {fetch_hint(name, target)} on a machine with network access")
    if name not in OFFICIAL:
        raise Sam3MissingError(f"'{name}' is not an official SAM 3 folder ({', '.join(OFFICIAL)}), so it cannot "
                               f"be downloaded. {fetch_hint(name, target)}")
    return download_atomically(OFFICIAL[name], target, downloader, allow_patterns=_ALLOW, missing=missing_files,
                               error=Sam3MissingError, failure_hint=GATED_HINT.format(repo=OFFICIAL[name]))


def is_sam3_folder(folder: str) -> bool:
    """A folder whose config.json says model_type sam3 (what the loader lists)."""
    import json

    try:
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            return json.load(f).get("model_type") in ("sam3", "sam3_video")
    except (OSError, ValueError, AttributeError):
        return False
