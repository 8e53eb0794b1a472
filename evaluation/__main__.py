"""``python -m evaluation`` from the pack root, ``python -m genassist.evaluation`` where the pack is the
package ``genassist``, or ``python scripts/evaluate.py`` from anywhere.

The libraries import each other relatively under one package root. The pack root's own ``__init__.py``
registers ComfyUI nodes, so it cannot be imported outside ComfyUI; when this module runs without that
parent package (``python -m evaluation``, or by path), it registers the pack folder as a bare package
named ``genassist`` (the tests' harness registers the pack with this same function) and runs ``genassist.evaluation.cli``, so every
relative import resolves exactly as in the tests and in ComfyUI."""

import importlib
import importlib.machinery
import importlib.util
import sys
from pathlib import Path

PACK_NAME = "genassist"


def register_pack(pack_dir: Path) -> None:
    if PACK_NAME in sys.modules:
        return
    spec = importlib.machinery.ModuleSpec(PACK_NAME, loader=None, is_package=True)
    spec.submodule_search_locations = [str(pack_dir)]
    sys.modules[PACK_NAME] = importlib.util.module_from_spec(spec)


def cli_module():
    package = __package__ or ""
    if package.endswith(".evaluation"):  # already inside the pack's package
        return importlib.import_module(package + ".cli")
    register_pack(Path(__file__).resolve().parents[1])
    return importlib.import_module(f"{PACK_NAME}.evaluation.cli")


if __name__ == "__main__":
    sys.exit(cli_module().main())
