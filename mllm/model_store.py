"""Model folders on disk: find, check completeness, and (only when asked) download atomically.

A complete local copy never touches the network. HF_HUB_OFFLINE=1 forbids downloads outright. A
download goes to a temp folder beside the target and is renamed into place only once complete, so an
interrupted download never looks like a model.
"""

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

from .weights import SAFETENSORS_INDEX, TORCH_INDEX, weight_files

log = logging.getLogger(__name__)

# folder name under models/LLM -> Hugging Face repo id
CURATED = {
    "Qwen2.5-VL-3B-Instruct": "Qwen/Qwen2.5-VL-3B-Instruct",
    "Qwen2.5-VL-7B-Instruct": "Qwen/Qwen2.5-VL-7B-Instruct",
    "Qwen3-VL-4B-Instruct": "Qwen/Qwen3-VL-4B-Instruct",
    "Qwen3-VL-8B-Instruct": "Qwen/Qwen3-VL-8B-Instruct",
    "llmga-vicuna-7b-v1.5-full-finetune": "binxia/llmga-vicuna-7b-v1.5-full-finetune",
    "llmga-Qwen2-1.5B-full-finetune": "binxia/llmga-Qwen2-1.5B-full-finetune",
    "clip-vit-large-patch14-336": "openai/clip-vit-large-patch14-336",
}
VISION_TOWERS = {"clip-vit-large-patch14-336"}  # fetched for legacy checkpoints; not MLLMs themselves
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
_ALLOW = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]


class ModelMissingError(FileNotFoundError):
    """No complete copy of a model (message names the folders, the files and how to fetch them)."""


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def missing_weight_files(folder: str, when_none: str = "model weights (*.safetensors)") -> list[str]:
    """Every weight shard an index names that is not on disk, or ``when_none`` when there are no weights."""
    try:
        files = weight_files(folder)  # an index's shards, or the weight files present
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        index = next((i for i in (SAFETENSORS_INDEX, TORCH_INDEX) if os.path.isfile(os.path.join(folder, i))), None)
        if index is None:
            raise
        return [f"{index} (unreadable)"]
    return [os.path.relpath(f, folder) for f in files if not os.path.isfile(f)] if files else [when_none]


def missing_files(folder: str, needs_tokenizer: bool | None = None,
                  weights: str = "model weights (*.safetensors)") -> list[str]:
    """What a loadable model folder lacks: config, every weight shard of the index, a tokenizer. ``weights``
    names the weight files when there are none."""
    if not os.path.isdir(folder):
        return ["config.json", weights]
    missing = [] if os.path.isfile(os.path.join(folder, "config.json")) else ["config.json"]
    missing += missing_weight_files(folder, when_none=weights)
    if needs_tokenizer is None:
        needs_tokenizer = os.path.basename(os.path.normpath(folder)).split(".download-")[0].lstrip(".") \
            not in VISION_TOWERS
    if needs_tokenizer and not any(os.path.isfile(os.path.join(folder, t)) for t in TOKENIZER_FILES):
        missing.append("tokenizer (tokenizer.json or tokenizer.model)")
    return missing


def hub_fetch_hint(downloads: dict[str, str], folder: str, files: str, include: str = "",
                   note: str = "") -> Callable[[str, str], str]:
    """A FolderKind's fetch_hint: for a name in ``downloads``, the download switch or the huggingface-cli
    command (``include``: its --include patterns; ``note``: added after it, "{repo}" filled in); for any
    other name, where to put which kind of ``folder`` holding which ``files``."""

    def hint(name: str, target: str) -> str:
        repo = downloads.get(name)
        if repo:
            return (f"turn on 'download' in the loader, or run: huggingface-cli download {repo}{include} "
                    f"--local-dir \"{target}\"{note.format(repo=repo)}")
        return f"put {folder} at \"{target}\" ({files})"

    return hint


fetch_hint = hub_fetch_hint(CURATED, "a Hugging Face model folder", "config.json, tokenizer, *.safetensors")


@dataclass(frozen=True)
class FolderKind:
    """A kind of model folder: what it must hold, where it is fetched from, how a missing one is reported."""

    label: str  # "model", "SAM 3"
    missing: Callable[[str], list[str]]
    fetch_hint: Callable[[str, str], str]  # (name, target folder) -> how to get it
    downloads: dict[str, str]  # folder name -> Hugging Face repository
    error: type[Exception] = ModelMissingError
    expected: str = ""  # what a folder holds, for the "no folder" message
    allow_patterns: tuple[str, ...] = tuple(_ALLOW)
    failure_hint: str = ""  # added to a hub failure, "{repo}" filled in (e.g. gated repositories)


def folders_where(search_dirs: list[str], accept: Callable[[str], bool]) -> list[str]:
    """Names of the model folders in any of ``search_dirs`` that ``accept(path)`` takes (a loader's list of
    one kind of model), sorted; hidden folders (downloads in progress) are skipped."""
    names = set()
    for base in search_dirs:
        if os.path.isdir(base):
            names.update(entry.name for entry in os.scandir(base)
                         if entry.is_dir() and not entry.name.startswith(".") and accept(entry.path))
    return sorted(names)


def find_complete(name: str, search_dirs: list[str], missing: Callable[[str], list[str]] = missing_files) -> str | None:
    for base in search_dirs:
        folder = os.path.join(base, name)
        if os.path.isdir(folder) and not missing(folder):
            return folder
    return None


def resolve_folder(kind: FolderKind, name: str, search_dirs: list[str], download: bool = False,
                   downloader: Callable[..., object] | None = None) -> str:
    """Folder of a complete copy of ``name``; downloads into search_dirs[0] only when asked."""
    if not name or os.sep in name or "/" in name or name.startswith("."):
        raise ValueError(f"invalid {kind.label} folder name {name!r}")
    found = find_complete(name, search_dirs, kind.missing)
    if found:
        return found
    if not search_dirs:
        raise kind.error(f"no folder for {kind.label} models is configured (models/ or extra_model_paths.yaml)")
    target = os.path.join(search_dirs[0], name)
    partial = next((os.path.join(b, name) for b in search_dirs if os.path.isdir(os.path.join(b, name))), None)
    if not download:
        if partial:
            raise kind.error(f"{kind.label} folder {partial} is incomplete, missing: "
                             f"{', '.join(kind.missing(partial))}. {kind.fetch_hint(name, partial)}")
        raise kind.error(f"no {kind.label} folder '{name}' in {', '.join(search_dirs)}. {kind.expected}"
                         f"{kind.fetch_hint(name, target)}")
    if offline():
        raise kind.error(f"{kind.label} '{name}' is not complete on disk and HF_HUB_OFFLINE=1 forbids "
                         f"downloading it. {kind.fetch_hint(name, target)} on a machine with network access")
    if name not in kind.downloads:
        raise kind.error(f"'{name}' is not in the download list of {kind.label} folders "
                         f"({', '.join(kind.downloads)}). {kind.fetch_hint(name, target)}")
    repo = kind.downloads[name]
    return download_atomically(repo, target, downloader, allow_patterns=list(kind.allow_patterns),
                               missing=kind.missing, error=kind.error,
                               failure_hint=kind.failure_hint.format(repo=repo))


MODELS = FolderKind("model", missing_files, fetch_hint, CURATED,
                    expected="Expected config.json, a tokenizer and *.safetensors. ")


def resolve_model(name: str, search_dirs: list[str], download: bool = False,
                  downloader: Callable[..., object] | None = None) -> str:
    """Folder of a complete MLLM copy of ``name`` under models/LLM."""
    return resolve_folder(MODELS, name, search_dirs, download, downloader)


def download_atomically(repo_id: str, target: str, downloader=None, *, allow_patterns=None, missing=None,
                        error=None, failure_hint: str = "") -> str:
    """Download ``repo_id`` into a temporary folder beside ``target`` and rename it into place only when
    ``missing(folder)`` finds nothing lacking: a half-downloaded model never looks complete. ``failure_hint``
    is added to a hub failure's message (e.g. how to get access to a gated repository)."""
    allow_patterns = _ALLOW if allow_patterns is None else allow_patterns
    missing, error = missing or missing_files, error or ModelMissingError
    if downloader is None:
        from huggingface_hub import snapshot_download as downloader
    parent = os.path.dirname(target)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(target)}.download-", dir=parent)
    try:
        log.info("downloading %s into %s", repo_id, target)
        try:
            downloader(repo_id=repo_id, local_dir=tmp, allow_patterns=allow_patterns)
        except Exception as failure:
            if not failure_hint:
                raise
            raise error(f"download of {repo_id} failed ({failure}). {failure_hint}") from failure
        shutil.rmtree(os.path.join(tmp, ".cache"), ignore_errors=True)
        lacking = missing(tmp)
        if lacking:
            raise error(f"download of {repo_id} is incomplete (missing {', '.join(lacking)}); "
                        "nothing was installed, try again")
        if os.path.isdir(target):  # an incomplete earlier copy: replace it
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def folder_revision(folder: str) -> str:
    """A revision for cache keys: the small files that shape answers (config, weight index, tokenizer and chat
    template), and each weight file's name, size and modification time. Sizes alone miss a fine-tune of the same
    architecture copied over the folder (every size equal); hashing gigabytes at each load would be slow, and a
    replaced or rewritten file gets a new mtime (a touched one costs a cache miss, never a stale answer)."""
    digest = hashlib.sha256()
    for name in ("config.json", SAFETENSORS_INDEX, TORCH_INDEX, "generation_config.json",
                 "tokenizer_config.json", "chat_template.json", "chat_template.jinja"):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                digest.update(name.encode() + b"\0" + f.read())
    for path in weight_files(folder):
        stat = os.stat(path)
        digest.update(f"{os.path.basename(path)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]
