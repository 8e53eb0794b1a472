"""The pack as one package, ``genassist``, for tests and benches, without running its ComfyUI entry point.

The pack root's ``__init__.py`` registers nodes and imports ComfyUI; the libraries below it import each
other relatively. Registering the root as a bare package lets ``import genassist.mllm`` work anywhere,
and keeps ComfyUI's own top-level ``nodes`` module from being shadowed by the pack's ``nodes/``.
"""

import runpy
import sys

from .host import PACK_DIR, PACK_NAME

# The library packages, bottom first: each may import only those before it (and never ComfyUI).
LIBRARY_LAYERS = (("mllm", "restoration"), ("segmentation", "conditioning"), ("editing",), ("canvas",),
                  ("evaluation",))
LIBRARIES = tuple(name for layer in LIBRARY_LAYERS for name in layer)


def register_pack() -> None:
    """Make ``genassist.<package>`` importable; idempotent. The evaluation command line registers the pack
    this way before any of it can be imported, so its own function is used, run from its file by path
    (``run_name`` keeps its command line from running)."""
    if PACK_NAME in sys.modules:
        return
    entry_point = runpy.run_path(str(PACK_DIR / "evaluation" / "__main__.py"), run_name="genassist_registration")
    entry_point["register_pack"](PACK_DIR)
    assert PACK_NAME in sys.modules, f"evaluation/__main__.py registered no {PACK_NAME!r} package"
