"""Fixtures shared by the host layer's test modules."""

import pytest

from harness.fuzz import Tally


@pytest.fixture(scope="module")
def tally():
    """Outcomes of a module's node shape matrix, added to tests/artifacts/fuzz_report.json."""
    collected = Tally("nodes")
    yield collected
    collected.flush()


@pytest.fixture
def model_loads(monkeypatch):
    """Every comfy.model_management.load_models_gpu call (wrapped with its real signature), as the list of
    models it was given: how a test sees how often a node loads its model."""
    import comfy.model_management as mm

    calls = []
    real = mm.load_models_gpu

    def counting(models, memory_required=0, force_patch_weights=False, minimum_memory_required=None,
                 force_full_load=False):
        calls.append(list(models))
        return real(models, memory_required, force_patch_weights, minimum_memory_required, force_full_load)

    monkeypatch.setattr(mm, "load_models_gpu", counting)
    return calls
