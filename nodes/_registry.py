"""Import each capability module on its own; one broken dependency never hides the other nodes."""

import importlib
import logging
import os
import pkgutil
import sys

from ._types import ComfyExtension

log = logging.getLogger("GenAssist")

_PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fix_hint(error: BaseException) -> str:
    if isinstance(error, ModuleNotFoundError) and error.name:
        req = os.path.join(_PACK_DIR, "requirements.txt")
        return f"install the missing package '{error.name}': {sys.executable} -m pip install -r {req}"
    return "see the traceback above; the other GenAssist nodes are unaffected"


def load_node_modules() -> list:
    """The V3 node classes of every capability module (``NODES`` of nodes/<name>.py), in module order."""
    found: dict = {}
    package = __name__.rsplit(".", 1)[0]
    here = os.path.dirname(os.path.abspath(__file__))
    for info in sorted(pkgutil.iter_modules([here]), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{package}.{info.name}")
            nodes = {node.GET_SCHEMA().node_id: node for node in getattr(module, "NODES", ())}
        except Exception as error:  # noqa: BLE001 - report and keep loading the rest
            log.exception("GenAssist: nodes/%s.py failed to load (%s). Fix: %s",
                          info.name, error, _fix_hint(error))
            continue
        twice = found.keys() & nodes.keys()
        if twice:
            raise RuntimeError(f"GenAssist: node ids {sorted(twice)} defined twice (nodes/{info.name}.py)")
        found.update(nodes)
    log.info("GenAssist: %d nodes loaded", len(found))
    return list(found.values())


class GenAssistExtension(ComfyExtension):
    """The pack as one V3 extension. Nothing is done in on_load: ComfyUI 0.3.75 never calls it."""

    def __init__(self, nodes: list):
        self.nodes = nodes

    async def get_node_list(self) -> list:
        return list(self.nodes)
