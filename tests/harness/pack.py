"""The pack as one package, ``genassist``, for tests and benches, without running its ComfyUI entry point.

The pack root's ``__init__.py`` registers nodes and imports ComfyUI; the libraries below it import each
other relatively. Registering the root as a bare package lets ``import genassist.mllm`` work anywhere,
and keeps ComfyUI's own top-level ``nodes`` module from being shadowed by the pack's ``nodes/``.
"""

import importlib.machinery
import importlib.util
import sys

from .host import PACK_DIR, PACK_NAME

# The library packages, bottom first: each may import only those before it (and never ComfyUI).
LIBRARY_LAYERS = (("mllm", "restoration"), ("segmentation", "conditioning"), ("editing",), ("canvas",),
                  ("evaluation",))
LIBRARIES = tuple(name for layer in LIBRARY_LAYERS for name in layer)


def register_pack() -> None:
    """Make ``genassist.<package>`` importable; idempotent."""
    if PACK_NAME in sys.modules:
        return
    spec = importlib.machinery.ModuleSpec(PACK_NAME, loader=None, is_package=True)
    spec.submodule_search_locations = [str(PACK_DIR)]
    sys.modules[PACK_NAME] = importlib.util.module_from_spec(spec)
