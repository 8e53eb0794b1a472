"""HarmonizeSeams contracts: preserved pixels exact, reference unread inside the mask, batches, polarity."""

import torch

from genassist.restoration.harmonize import HarmonizeSettings, fit_gain_offset, harmonize_seams
from genassist.restoration.masked_filters import gaussian_blur, masked_blur, push_pull_fill


def _scene(batch: int = 1, size: int = 96, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    smooth = torch.stack([0.3 + 0.4 * xx, 0.2 + 0.5 * yy, 0.6 - 0.3 * xx * yy])[None]
    texture = 0.05 * gaussian_blur(torch.randn(batch, 3, size, size, generator=gen), 1.0)
    truth = (smooth + texture).clamp(0, 1)
    mask = torch.zeros(batch, 1, size, size)
    mask[..., 24:72, 30:80] = 1
    return truth, mask


def test_preserved_pixels_are_bit_identical_and_soft_masks_count_as_generated():
    truth, mask = _scene()
    mask[..., 20:24, 30:80] = 0.3  # feathered edge
    image = (truth * 0.9 + 0.05).clamp(0, 1)
    out = harmonize_seams(image, truth, mask)
    keep = (mask == 0).expand_as(truth)
    assert out.shape == truth.shape and out.dtype == torch.float32
    assert torch.equal(out[keep], truth[keep])
    assert not torch.equal(out[~keep], truth[~keep])


def test_reference_is_never_read_inside_the_mask():
    truth, mask = _scene()
    image = (truth * 1.05 - 0.04).clamp(0, 1)
    zero_filled = truth * (1 - mask)
    garbage = torch.where(mask > 0, torch.full_like(truth, float("nan")), truth)
    a = harmonize_seams(image, zero_filled, mask)
    b = harmonize_seams(image, garbage, mask)
    assert torch.equal(a, b) and not torch.isnan(a).any()


def test_gain_and_bias_error_is_corrected_towards_the_truth():
    truth, mask = _scene()
    image = torch.where(mask > 0, (truth * 1.08 + 0.05).clamp(0, 1), truth)
    out = harmonize_seams(image, truth * (1 - mask), mask)
    hole = (mask > 0).expand_as(truth)
    before = float((image - truth).abs()[hole].mean())
    after = float((out - truth).abs()[hole].mean())
    assert after < 0.35 * before


def test_batches_match_item_by_item_and_a_single_reference_is_shared():
    truth, mask = _scene(batch=3)
    mask[1] = 0
    mask[1, :, 10:40, 10:90] = 1
    image = (truth * torch.tensor([0.92, 1.0, 1.08]).view(3, 1, 1, 1)).clamp(0, 1)
    together = harmonize_seams(image, truth, mask)
    for i in range(3):
        alone = harmonize_seams(image[i:i + 1], truth[i:i + 1], mask[i:i + 1])
        assert torch.equal(together[i:i + 1], alone)
    shared = harmonize_seams(image, truth[:1], mask)
    assert shared.shape[0] == 3 and torch.equal(shared[0], together[0])


def test_empty_and_full_masks():
    truth, mask = _scene()
    image = torch.rand_like(truth)
    assert torch.equal(harmonize_seams(image, truth, torch.zeros_like(mask)), truth)
    assert torch.equal(harmonize_seams(image, truth, torch.ones_like(mask)), image)


def test_blurred_generated_region_gets_its_detail_back():
    gen = torch.Generator().manual_seed(1)
    truth = (0.5 + 0.15 * torch.randn(1, 3, 96, 96, generator=gen)).clamp(0, 1)
    _, mask = _scene()
    blurred = torch.where(mask > 0, gaussian_blur(truth, 0.8), truth)
    hole = (mask > 0).expand_as(truth)

    def detail(x):
        return float((x - gaussian_blur(x, 1.5))[hole].std())

    with_detail = harmonize_seams(blurred, truth, mask, HarmonizeSettings(residual=False, blend=False))
    without = harmonize_seams(blurred, truth, mask, HarmonizeSettings(residual=False, blend=False, detail=False))
    assert detail(with_detail) > 1.15 * detail(without)


def test_gain_fit_recovers_an_affine_map_and_shrinks_towards_one():
    generated = torch.rand(3, 500)
    preserved = generated * 1.1 + 0.02
    gain, offset = fit_gain_offset(generated, preserved, shrink=1.0, limits=(0.5, 2.0))
    assert torch.allclose(gain, torch.full((3,), 1.1), atol=1e-3)
    assert torch.allclose(offset, torch.full((3,), 0.02), atol=1e-3)
    half, _ = fit_gain_offset(generated, preserved, shrink=0.5, limits=(0.5, 2.0))
    assert torch.allclose(half, torch.full((3,), 1.05), atol=1e-3)


def test_masked_filters_ignore_unweighted_pixels():
    x = torch.rand(1, 3, 40, 40)
    weight = torch.zeros(1, 1, 40, 40)
    weight[..., :, :20] = 1
    poisoned = torch.where(weight > 0, x, torch.full_like(x, 1e6))
    mean_a, _ = masked_blur(x * weight, weight, 3.0)
    mean_b, _ = masked_blur(torch.where(weight > 0, poisoned, 0), weight, 3.0)
    assert torch.allclose(mean_a, mean_b)
    filled = push_pull_fill(x, weight)
    assert torch.allclose(filled[..., :, :20], x[..., :, :20], atol=1e-6)
    assert float(filled[..., :, 20:].max()) <= float(x[..., :, :20].max()) + 1e-6
