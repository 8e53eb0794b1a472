"""Stand-ins for tests of CUDA-graph recording on a CPU."""

import contextlib

import torch


@contextlib.contextmanager
def as_if_recording(monkeypatch):
    """transformers asks torch whether a CUDA graph is being recorded to skip its host-side checks: answer
    yes, as a recording would (a stand-in with torch's signature, on any device)."""
    monkeypatch.setattr(torch.cuda, "is_current_stream_capturing", lambda: True)
    yield
