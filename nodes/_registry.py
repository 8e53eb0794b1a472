"""Import each capability module on its own; one broken dependency never hides the other nodes."""

import importlib
import logging
import os
import pkgutil
import sys

log = logging.getLogger("GenAssist")

_PACK_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _fix_hint(error: BaseException) -> str:
    if isinstance(error, ModuleNotFoundError) and error.name:
        req = os.path.join(_PACK_DIR, "requirements.txt")
        return f"install the missing package '{error.name}': {sys.executable} -m pip install -r {req}"
    return "see the traceback above; the other GenAssist nodes are unaffected"


def load_node_modules() -> tuple[dict, dict]:
    classes: dict = {}
    names: dict = {}
    package = __name__.rsplit(".", 1)[0]
    here = os.path.dirname(os.path.abspath(__file__))
    for info in sorted(pkgutil.iter_modules([here]), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{package}.{info.name}")
        except Exception as error:  # noqa: BLE001 - report and keep loading the rest
            log.exception("GenAssist: nodes/%s.py failed to load (%s). Fix: %s",
                          info.name, error, _fix_hint(error))
            continue
        for node_id in getattr(module, "NODE_CLASS_MAPPINGS", {}):
            if node_id in classes:
                raise RuntimeError(f"GenAssist: node id {node_id} defined twice (nodes/{info.name}.py)")
        classes.update(getattr(module, "NODE_CLASS_MAPPINGS", {}))
        names.update(getattr(module, "NODE_DISPLAY_NAME_MAPPINGS", {}))
    log.info("GenAssist: %d nodes loaded", len(classes))
    return classes, names
