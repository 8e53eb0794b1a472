"""SAM checkpoint files: find, and (only when asked) download the official ones atomically.

The official file names end in the first six hex digits of the file's MD5; a download is checked against
them, written to a temp file beside the target and renamed into place only when complete and correct.
HF_HUB_OFFLINE=1 means no network at all.
"""

import hashlib
import logging
import os
import tempfile
import urllib.request
from collections.abc import Callable

from ..mllm.model_store import offline
from .sam_model import OFFICIAL_FILES

log = logging.getLogger(__name__)


class SamMissingError(FileNotFoundError):
    """No usable SAM file (the message names the folder, the file and how to fetch it)."""


def fetch_hint(name: str, folder: str) -> str:
    if name in OFFICIAL_FILES:
        url = OFFICIAL_FILES[name][1]
        return f"turn on 'download' in the loader, or fetch {url} into \"{folder}\""
    official = ", ".join(OFFICIAL_FILES)
    return f"put a segment-anything checkpoint in \"{folder}\" (official files: {official})"


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
    if name not in OFFICIAL_FILES:
        raise SamMissingError(f"'{name}' is not an official SAM file, so it cannot be downloaded. "
                              f"{fetch_hint(name, folder)}")
    if offline():
        raise SamMissingError(f"'{name}' is not on disk and HF_HUB_OFFLINE=1 forbids downloading it. "
                              f"Fetch {OFFICIAL_FILES[name][1]} into \"{folder}\" on a machine with network access")
    url = url_for(name) if url_for else OFFICIAL_FILES[name][1]
    log.info("downloading %s into %s", url, folder)
    return download_file(url, os.path.join(folder, name), progress=progress,
                         verify=lambda path: md5_prefix_ok(path, name))
