"""Benches import the pack as ``genassist`` (see tests/harness/pack.py) and reuse the tests' harness and
tiny models; importing this module sets that up. Benches run as scripts, so bench/ is on sys.path."""

import sys
from pathlib import Path

PACK = Path(__file__).resolve().parents[1]
if str(PACK / "tests") not in sys.path:
    sys.path.append(str(PACK / "tests"))

from harness.pack import register_pack  # noqa: E402

register_pack()
