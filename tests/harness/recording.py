"""Stand-ins for tests of CUDA-graph recording on a CPU."""

import contextlib

import pytest
import torch


@contextlib.contextmanager
def as_if_recording():
    """Inside the block, torch says a CUDA graph is being recorded (transformers asks, to skip its host-side
    checks, as it would in a recording): a stand-in with torch's signature, on any device."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch.cuda, "is_current_stream_capturing", lambda: True)
        yield
