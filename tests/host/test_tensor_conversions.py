"""IMAGE -> PIL conversion: validated once (at the node's input, by as_rgb), and still validated for a caller
that hands to_pil a raw IMAGE."""

import numpy as np
import pytest
import torch

from genassist.nodes import _tensors


def test_an_image_validated_by_as_rgb_is_not_validated_again(monkeypatch):
    rgb = _tensors.as_rgb(torch.rand(2, 5, 7, 4))
    calls = []
    real = _tensors.as_rgb
    monkeypatch.setattr(_tensors, "as_rgb", lambda image, name="image": calls.append(name) or real(image, name))
    pils = _tensors.to_pil(rgb)
    assert calls == [] and len(pils) == 2 and pils[0].size == (7, 5) and pils[0].mode == "RGB"
    expected = (rgb[1].numpy() * 255).round().astype(np.uint8)
    assert np.array_equal(np.asarray(pils[1]), expected)
    _tensors.to_pil(torch.rand(1, 5, 7, 4))  # a raw RGBA IMAGE is validated (and its alpha dropped) here
    assert calls == ["image"]


def test_direct_callers_keep_the_errors_and_the_conversions():
    with pytest.raises(ValueError, match=r"image must be an IMAGE \[batch, height, width, channels\].*got 5x7"):
        _tensors.to_pil(torch.rand(5, 7))
    with pytest.raises(ValueError, match=r"reference must be an IMAGE .*got 1x5x7x2"):
        _tensors.to_pil(torch.rand(1, 5, 7, 2), "reference")
    with pytest.raises(ValueError, match=r"image must be an IMAGE .*got ndarray"):
        _tensors.to_pil(np.zeros((1, 5, 7, 3), np.float32))
    gray = torch.full((1, 2, 3, 1), 0.5, dtype=torch.float16)
    assert np.asarray(_tensors.to_pil(gray)[0]).tolist() == [[[128] * 3] * 3] * 2
    odd = torch.tensor([[[[float("nan"), float("inf"), -float("inf")]]]])  # already float32 [1,1,1,3] on CPU
    assert np.asarray(_tensors.to_pil(odd)[0]).tolist() == [[[0, 255, 0]]]
    assert np.asarray(_tensors.to_pil(odd.double())[0]).tolist() == [[[0, 255, 0]]]
