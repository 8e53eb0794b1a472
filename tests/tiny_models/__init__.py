"""Tiny random-weight models in the real on-disk formats, deterministic and cached.

``tiny.<kind>()`` imports ``tiny_models/<kind>.py`` and calls its ``build(models_dir, **kwargs)``, which
writes (once, atomically) into the test models tree and returns the name a loader node expects (a
file name relative to its models/ folder, or a model directory name). Add a format by adding a module.
"""

import importlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


class TinyModels:
    def __init__(self, models_dir: Path):
        self.models_dir = Path(models_dir)

    def __getattr__(self, kind: str):
        if kind.startswith("_"):
            raise AttributeError(kind)
        module = importlib.import_module(f"tiny_models.{kind}")
        return lambda **kwargs: module.build(self.models_dir, **kwargs)


@contextmanager
def atomic_path(final: Path):
    """Yield a temp path beside ``final``; it is renamed onto ``final`` only if the block succeeds."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent)) / final.name
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)
