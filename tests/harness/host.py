"""Where the ComfyUI host and its python live (COMFYUI_DIR wins over the local .host build)."""

import os
from pathlib import Path

PACK_DIR = Path(__file__).resolve().parents[2]
HOST_DIR = PACK_DIR / ".host"
PACK_NAME = "genassist"


def _host_env() -> dict[str, str]:
    env_file = HOST_DIR / "host.env"
    if not env_file.is_file():
        return {}
    pairs = (line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def host_setting(name: str) -> str:
    """A value setup_host.sh wrote into .host/host.env (the environment wins); empty when unset."""
    return os.environ.get(name) or _host_env().get(name, "")


def comfy_dir() -> Path:
    path = os.environ.get("COMFYUI_DIR") or _host_env().get("COMFYUI_DIR")
    if not path or not (Path(path) / "main.py").is_file():
        raise RuntimeError("no ComfyUI host: run `make test` (or scripts/setup_host.sh --test) first")
    return Path(path)


def comfy_python() -> str:
    return os.environ.get("COMFYUI_PYTHON") or _host_env().get("COMFYUI_PYTHON") or "python3"


def custom_nodes_dir() -> Path:
    """Folder holding only a link to this checkout (made by setup_host.sh)."""
    return HOST_DIR / "custom_nodes"


def artifacts_dir() -> Path:
    path = PACK_DIR / "tests" / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path
