"""Fixtures shared by the host layer's test modules."""

import pytest

from harness.fuzz import Tally


@pytest.fixture(scope="module")
def tally():
    """Outcomes of a module's node shape matrix, added to tests/artifacts/fuzz_report.json."""
    collected = Tally("nodes")
    yield collected
    collected.flush()
