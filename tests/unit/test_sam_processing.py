"""SAM and LISA-CLIP preprocessing against hand-computed values, postprocessing, mask finishing, cache."""

import numpy as np
import pytest
import torch
from PIL import Image

from genassist.mllm.clip_vision import CLIP_MEAN, CLIP_STD, prepare_image
from genassist.mllm.vision_cache import FeatureCache
from genassist.segmentation.sam_masks import feather, grow, overlay, union
from genassist.segmentation.sam_model import PIXEL_MEAN, PIXEL_STD, sam_from_state_dict
from genassist.segmentation.sam_predict import Prompt, SamPredictor
from genassist.segmentation.sam_processing import postprocess, preprocess, resized_size
from tiny_models import sam as tiny_sam

MEAN, STD = np.array(PIXEL_MEAN), np.array(PIXEL_STD)


def test_longest_side_rounds_half_up():
    assert resized_size(333, 1000) == (341, 1024)  # 340.99 -> 341 (int(x + 0.5)), not 340
    assert resized_size(1000, 333) == (1024, 341)
    assert resized_size(600, 1024) == (600, 1024)
    assert resized_size(100, 100) == (1024, 1024)


def test_sam_branch_hand_computed_non_square():
    rng = np.random.RandomState(0)
    pixels = (rng.rand(600, 1024, 3) * 255).astype(np.uint8)  # already at 1024: no resampling involved
    out, hw = preprocess(pixels)
    assert hw == (600, 1024) and out.shape == (3, 1024, 1024)
    expected = (pixels.astype(np.float64) - MEAN) / STD  # ImageNet mean/std on 0..255
    np.testing.assert_allclose(out[:, :600].permute(1, 2, 0).numpy(), expected, atol=1e-4)
    assert torch.count_nonzero(out[:, 600:]) == 0  # zero padding at the bottom only


def test_sam_branch_resizes_then_pads_right_for_tall_images():
    pixels = np.zeros((448, 224, 3), np.uint8)
    pixels[:, :112] = (200, 10, 30)
    pixels[:, 112:] = (5, 250, 90)
    out, hw = preprocess(pixels)
    assert hw == (1024, 512)
    left, right = (np.array([200, 10, 30]) - MEAN) / STD, (np.array([5, 250, 90]) - MEAN) / STD
    np.testing.assert_allclose(out[:, 500, 10].numpy(), left, atol=1e-4)
    np.testing.assert_allclose(out[:, 500, 500].numpy(), right, atol=1e-4)
    assert torch.count_nonzero(out[:, :, 512:]) == 0  # zero padding on the right


@pytest.mark.parametrize("width,height,axis,offset", [(448, 224, "x", 112), (224, 301, "y", 38)])
def test_clip_branch_hand_computed_centre_crop(width, height, axis, offset):
    """LISA's CLIP view: short side already 224 (no resampling), so the crop is exact; a wide image loses
    its sides, a tall one its top and bottom."""
    rng = np.random.RandomState(1)
    pixels = (rng.rand(height, width, 3) * 255).astype(np.uint8)
    out = prepare_image(Image.fromarray(pixels), 224, "crop")
    crop = pixels[:, offset:offset + 224] if axis == "x" else pixels[offset:offset + 224, :]
    expected = (crop / 255.0 - np.array(CLIP_MEAN)) / np.array(CLIP_STD)
    np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), expected, atol=1e-5)


def test_postprocess_crops_the_padding_before_resizing():
    low = -torch.ones(1, 1, 256, 256)
    low[..., :128, :] = 1.0  # the top half of the padded square (= the whole wide image) is positive
    logits = postprocess(low, resized_hw=(512, 1024), original_hw=(224, 448))
    assert logits.shape == (1, 224, 448)
    assert (logits > 0).float().mean() > 0.98  # had the padding not been cropped, half would be negative


def test_grow_shrink_feather_union_overlay():
    mask = torch.zeros(1, 20, 20)
    mask[0, 8:12, 8:12] = 1
    assert grow(mask, 2).sum() == 64 and grow(mask, -1).sum() == 4 and torch.equal(grow(mask, 0), mask)
    edge = torch.ones(1, 5, 5)
    assert torch.equal(grow(edge, -1), edge)  # the image border does not erode a full mask
    soft = feather(mask, 3)
    assert soft.max() <= 1 and 0 < soft[0, 7, 10] < 1 and soft[0, 0, 0] < 0.01
    assert torch.equal(union(torch.zeros(0, 4, 6), 4, 6), torch.zeros(4, 6))
    image = torch.full((20, 20, 3), 0.2)
    tinted = overlay(image, mask[0])
    assert torch.allclose(tinted[10, 10], torch.tensor([0.6, 0.1, 0.1])) and torch.equal(tinted[0, 0], image[0, 0])


def test_n_prompts_on_one_image_run_the_encoder_once():
    sam, _ = sam_from_state_dict(tiny_sam.state_dict())
    calls = []
    forward = sam.image_encoder.forward
    sam.image_encoder.forward = lambda x: calls.append(1) or forward(x)
    predictor = SamPredictor(sam, FeatureCache(max_items=2))
    image = (np.random.RandomState(2).rand(64, 96, 3) * 255).astype(np.uint8)
    first = None
    for box in [(0, 0, 40, 40), (10, 10, 90, 60), (50, 5, 95, 63)]:
        logits = predictor.masks_for_prompts(predictor.embed(image.copy()), [Prompt(box=box)])
        first = logits if first is None else first
    assert len(calls) == 1 and predictor.cache.encoder_passes == 1
    other = image.copy()
    other[0, 0, 0] ^= 1  # one changed value is another image
    predictor.embed(other)
    assert len(calls) == 2
    assert torch.equal(predictor.masks_for_prompts(predictor.embed(image), [Prompt(box=(0, 0, 40, 40))]), first)
