"""SAM checkpoint files: find, and (only when asked) download the official ones atomically.

The official file names end in the first six hex digits of the file's MD5; a download is checked against
them, written to a temp file beside the target and renamed into place only when complete and correct.
The single safetensors files on Hugging Face (HUB_FILES) carry no checksum in their name: a download of
one must be a safetensors file holding SAM's tensors. HF_HUB_OFFLINE=1 means no network at all.
"""

import hashlib
import logging
import os
import tempfile
import urllib.request
from collections.abc import Callable

from ..mllm.model_store import offline
from .sam_model import HUB_FILES, OFFICIAL_FILES

log = logging.getLogger(__name__)


class SamMissingError(FileNotFoundError):
    """No usable SAM file (the message names the folder, the file and how to fetch it)."""


def source_url(name: str) -> str | None:
    if name in OFFICIAL_FILES:
        return OFFICIAL_FILES[name][1]
    return HUB_FILES.get(name)


def fetch_hint(name: str, folder: str) -> str:
    url = source_url(name)
    if url:
        return f"turn on 'download' in the loader, or fetch {url} into \"{folder}\""
    official = ", ".join(OFFICIAL_FILES)
    return f"put a segment-anything checkpoint in \"{folder}\" (official files: {official})"


def is_sam_safetensors(path: str) -> bool:
    """True when the file is a safetensors file with a SAM image encoder (either key layout)."""
    from safetensors import safe_open

    try:
        with safe_open(path, "pt") as f:
            keys = set(f.keys())
    except Exception:  # not a safetensors file at all (an HTML error page, a truncated header)
        return False
    return bool(keys & {"image_encoder.patch_embed.proj.weight", "vision_encoder.patch_embed.projection.weight"})


def md5_prefix_ok(path: str, name: str) -> bool:
    """Official names end in the MD5's first six hex digits (sam_vit_h_4b8939.pth)."""
    expected = os.path.splitext(name)[0].rsplit("_", 1)[-1]
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest().startswith(expected)


def download_file(url: str, target: str, timeout: float = 60.0, progress: Callable[[int, int], None] | None = None,
                  verify: Callable[[str], bool] | None = None) -> str:
    """Stream url into a temp file beside target, verify, then rename onto target."""
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".part", dir=folder)
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            for block in iter(lambda: response.read(1 << 20), b""):
                out.write(block)
                done += len(block)
                if progress:
                    progress(done, total)
        if total and done != total:
            raise OSError(f"download of {url} stopped at {done} of {total} bytes; nothing was installed, retry")
        if verify is not None and not verify(tmp):
            raise OSError(f"download of {url} does not match its checksum; nothing was installed, retry")
        os.replace(tmp, target)
        return target
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def resolve_sam(name: str, found_path: str | None, folders: list[str], download: bool = False,
                url_for: Callable[[str], str] | None = None, progress=None) -> str:
    """Path of the SAM file ``name``: found_path if it exists, else a download into folders[0] (only when
    asked, only official names, never offline)."""
    if not name:
        raise ValueError("no SAM file chosen: pick one from models/sams or an official name")
    if found_path and os.path.isfile(found_path):
        return found_path
    folder = folders[0] if folders else "models/sams"
    if not download:
        raise SamMissingError(f"no SAM file '{name}' in {', '.join(folders) or folder}. {fetch_hint(name, folder)}")
    if source_url(name) is None:
        raise SamMissingError(f"'{name}' is not an official SAM file, so it cannot be downloaded. "
                              f"{fetch_hint(name, folder)}")
    if offline():
        raise SamMissingError(f"'{name}' is not on disk and HF_HUB_OFFLINE=1 forbids downloading it. "
                              f"Fetch {source_url(name)} into \"{folder}\" on a machine with network access")
    url = url_for(name) if url_for else source_url(name)
    log.info("downloading %s into %s", url, folder)
    verify = is_sam_safetensors if name in HUB_FILES else (lambda path: md5_prefix_ok(path, name))
    return download_file(url, os.path.join(folder, name), progress=progress, verify=verify)
