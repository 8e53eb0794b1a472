"""Model folders GenAssist reads, registered at import without clobbering extra_model_paths.yaml."""

import os

import folder_paths

from ..mllm.model_store import folders_where
from ..segmentation.sam3_store import is_sam3_folder

_WEIGHT_FILES = {".safetensors", ".pth", ".pt", ".bin"}

# folder name -> file extensions listed by get_filename_list (empty: every file).
# LLM holds model *directories* (Hugging Face layout); it is listed with list_model_dirs().
MODEL_FOLDERS = {
    "LLM": set(),
    "sams": _WEIGHT_FILES,
    "diffrir": _WEIGHT_FILES,
}


def register_model_folders() -> None:
    for name, extensions in MODEL_FOLDERS.items():
        default = os.path.join(folder_paths.models_dir, name)
        if name in folder_paths.folder_names_and_paths:
            paths, known = folder_paths.folder_names_and_paths[name]
            paths = list(paths) + ([default] if default not in paths else [])
            extensions = set(known) | set(extensions) if known else set(extensions)
        else:
            paths = [default]
        folder_paths.folder_names_and_paths[name] = (paths, set(extensions))


def list_model_dirs(folder: str, accept=lambda path: True) -> list[str]:
    """Sub-directories (one model each) of every path registered for ``folder`` that ``accept(path)`` takes,
    sorted, unique; hidden ones (downloads in progress) are skipped."""
    return folders_where(folder_paths.get_folder_paths(folder), accept)


def find_model_dir(folder: str, name: str) -> str | None:
    for base in folder_paths.get_folder_paths(folder):
        candidate = os.path.join(base, name)
        if os.path.isdir(candidate):
            return candidate
    return None


def sam3_folders() -> list[str]:
    """SAM 3 model folders in models/sams (Load SAM 3 lists them; Load SAM leaves their files out)."""
    return list_model_dirs("sams", is_sam3_folder)
