#!/usr/bin/env python3
"""Run the pack's evaluation command line from anywhere: python scripts/evaluate.py score reasonseg ...
(the same as ``python -m evaluation ...`` from the pack root; see evaluation/__main__.py)."""

import runpy
from pathlib import Path

if __name__ == "__main__":
    runpy.run_path(str(Path(__file__).resolve().parents[1] / "evaluation" / "__main__.py"), run_name="__main__")
