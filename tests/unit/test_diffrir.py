"""DiffRIR S2: the released key layout loads strictly, and restoration keeps DiffRIR's contracts."""

import pickle

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from genassist.restoration.diffrir import DiffRIRS2, pack_padded, run_padded
from genassist.restoration.diffrir_checkpoint import load_diffrir, read_state_dict
from genassist.restoration.diffrir_config import DiffRIRConfig
from genassist.restoration.restore import activation_bytes_per_pixel, count_tiles, restore_image
from genassist.restoration.tiling import feather_weight, plan_tiles, tile_for_budget
from tiny_models import diffrir as tiny_diffrir

SCALES = (1, 2, 4)


def _inputs(scale: int, height: int = 72, width: int = 100, batch: int = 1, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    reference = torch.rand(batch, 3, height, width, generator=gen)
    mask = torch.zeros(batch, 1, height, width)
    mask[..., 16:56, 30:90] = 1
    image = torch.rand(batch, 3, -(-height // scale), -(-width // scale), generator=gen)
    return image, reference, mask


@pytest.fixture(scope="module", params=[(s, f) for s in SCALES for f in ("pth", "safetensors")],
                ids=lambda p: f"x{p[0]}-{p[1]}")
def tiny_model(request, tmp_path_factory):
    scale, fmt = request.param
    root = tmp_path_factory.mktemp(f"diffrir_x{scale}_{fmt}")
    name = tiny_diffrir.build(root, scale=scale, fmt=fmt)
    return scale, load_diffrir(root / "diffrir" / name)


@pytest.mark.parametrize("scale", SCALES)
def test_released_size_layout_matches_key_for_key(scale):
    """The network at the released size has exactly DiffRIR's keys and shapes (incl. duplicates)."""
    with torch.device("meta"):
        model = DiffRIRS2(DiffRIRConfig(scale=scale))
    ours = {k: v.shape for k, v in model.state_dict().items()}
    expected = tiny_diffrir.layout(scale)
    assert set(ours) == set(expected)
    assert {k: s for k, s in ours.items() if s != expected[k]} == {}
    assert ours["G.patch_embed.proj.weight"] == (64, {1: 96, 2: 60, 4: 51}[scale], 3, 3)
    assert ours["G.tail.0.0.weight"] == (512, 128, 3, 3) and ours["denoise.resmlp.0.weight"] == (256, 513)


def test_tiny_checkpoint_loads_strictly_with_the_right_config(tiny_model):
    scale, model = tiny_model
    config = model.config
    assert (config.scale, config.dim, config.num_blocks, config.prior_feats) == (scale, 8, (1, 1, 1, 1), 16)
    assert (config.n_encoder_res, config.timesteps) == (2, 4)
    assert config.norm_bias is False and config.bias is False
    # shared modules, as in DiffRIR: the prior sampler uses the very same CPEN and denoiser
    assert model.diffusion.condition is model.condition and model.diffusion.model is model.denoise
    expected = tiny_diffrir.ddpm_buffers()
    assert torch.allclose(model.diffusion.posterior_mean_coef1, expected["diffusion.posterior_mean_coef1"])


def test_restore_shapes_seed_and_preserved_pixels(tiny_model):
    scale, model = tiny_model
    image, reference, mask = _inputs(scale)
    first = restore_image(model, image, reference, mask, seed=7, tile=0)
    again = restore_image(model, image, reference, mask, seed=7, tile=0)
    other = restore_image(model, image, reference, mask, seed=8, tile=0)
    assert first.shape == reference.shape and first.dtype == torch.float32
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    keep = (mask == 0).expand_as(reference)
    assert torch.equal(first[keep], reference[keep])
    assert float((first[~keep] - reference[~keep]).abs().mean()) > 1e-3


def test_reference_inside_the_mask_is_never_used(tiny_model):
    scale, model = tiny_model
    image, reference, mask = _inputs(scale)
    scribbled = torch.where(mask > 0, torch.rand_like(reference), reference)
    assert torch.equal(restore_image(model, image, reference, mask, seed=1, tile=0),
                       restore_image(model, image, scribbled, mask, seed=1, tile=0))


def test_raw_output_is_scale_times_the_input(tiny_model):
    scale, model = tiny_model
    lq = torch.rand(2, 3, 32 // scale, 64 // scale)
    packed = model.pack(lq, torch.rand(2, 3, 32, 64), torch.zeros(2, 1, 32, 64))
    out = model(packed, model.prior(packed, model.prior_noise(2, 0)))
    assert out.shape == (2, 3, 32, 64)
    odd = run_padded(model, torch.rand(1, 3, -(-37 // scale), -(-45 // scale)), torch.rand(1, 3, 37, 45),
                     torch.ones(1, 1, 37, 45), model.prior_noise(1, 0))
    assert odd.shape == (1, 3, 37, 45)


def _small_model(scale: int) -> DiffRIRS2:
    return DiffRIRS2(DiffRIRConfig(scale=scale, dim=8, num_blocks=(1, 1, 1, 1), num_refinement_blocks=1,
                                   prior_feats=8, n_encoder_res=1)).eval().requires_grad_(False)


def test_x1_packing_is_generated_plus_masked_reference_unshuffled_by_4():
    model = _small_model(1)
    image, reference, mask = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32), torch.zeros(1, 1, 32, 32)
    mask[..., :16, :] = 1
    packed = model.pack(image, reference, mask)
    assert packed.shape == (1, 6, 32, 32)
    assert torch.equal(packed[:, :3], image) and torch.equal(packed[:, 3:], reference * (1 - mask))
    features = model.features(packed)
    assert features.shape == (1, 96, 8, 8) and torch.equal(F.pixel_shuffle(features, 4), packed)


def test_x2_packing_unshuffles_the_reference_then_everything_by_2():
    model = _small_model(2)
    lq, reference = torch.rand(1, 3, 16, 16), torch.rand(1, 3, 32, 32)
    packed = model.pack(lq, reference, torch.zeros(1, 1, 32, 32))
    assert packed.shape == (1, 15, 16, 16)
    assert torch.equal(packed[:, :3], lq) and torch.equal(F.pixel_shuffle(packed[:, 3:], 2), reference)
    assert torch.equal(F.pixel_shuffle(model.features(packed), 2), packed)


def test_x4_packing_keeps_lq_channels_first():
    model = _small_model(4)
    lq, reference = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 32, 32)
    packed = model.pack(lq, reference, torch.zeros(1, 1, 32, 32))
    assert packed.shape == (1, 51, 8, 8) and torch.equal(model.features(packed), packed)
    assert torch.equal(packed[:, :3], lq) and torch.equal(F.pixel_shuffle(packed[:, 3:], 4), reference)


def test_padding_reflects_the_packed_input_at_lq_resolution():
    """DiffRIR pads after packing: at x2 whole 2x2 blocks of the reference are mirrored, not pixels."""
    model = _small_model(2)
    lq, reference = torch.rand(1, 3, 10, 12), torch.rand(1, 3, 20, 24)
    padded = pack_padded(model, lq, reference, torch.zeros(1, 1, 20, 24))
    assert padded.shape == (1, 15, 16, 16)
    unpadded = model.pack(lq, reference, torch.zeros(1, 1, 20, 24))
    assert torch.equal(padded, F.pad(unpadded, (0, 4, 0, 6), mode="reflect"))


def test_cpen_in_tiles_equals_the_whole_image_pass():
    model = _small_model(1)
    for layer in model.condition.modules():  # larger weights so any seam error would show
        if isinstance(layer, torch.nn.Conv2d):
            layer.weight.mul_(3)
    features = torch.rand(1, 96, 45, 38)
    whole = model.condition(features)
    tiled = model.condition.pooled_in_tiles(features, 16, torch.device("cpu"), torch.float32)
    assert model.condition.receptive_radius == 1 + 2 * 1 + 3
    assert float((whole - tiled).abs().max()) <= 1e-5 * max(1.0, float(whole.abs().max()))
    assert not torch.allclose(whole, model.condition(features[..., :16, :16]), atol=1e-3)


def test_tiles_share_the_whole_image_prior(tiny_model):
    scale, model = tiny_model
    image, reference, mask = _inputs(scale, 160, 224)
    mask[..., 40:150, 20:200] = 1
    seen = []
    hook = model.G.register_forward_pre_hook(lambda module, args: seen.append(args[1].clone()))
    try:
        restore_image(model, image, reference, mask, seed=3, tile=64, overlap=32)
    finally:
        hook.remove()
    with torch.inference_mode():
        expected = model.prior(pack_padded(model, image, reference, (mask > 0.5).float()), model.prior_noise(1, 3))
    assert len(seen) == count_tiles(mask, 64, 32) > 1
    for prior in seen:
        assert float((prior - expected).abs().max()) <= 1e-5


def test_tiled_restore_covers_every_pixel_and_stays_close_to_whole(tiny_model):
    scale, model = tiny_model
    image, reference, mask = _inputs(scale, 160, 224)
    mask[...] = 0
    mask[..., 40:150, 20:200] = 1
    calls = []
    tiled = restore_image(model, image, reference, mask, seed=3, tile=64, overlap=32,
                          on_tile=lambda: calls.append(1))
    whole = restore_image(model, image, reference, mask, seed=3, tile=0)
    assert len(calls) == count_tiles(mask, 64, 32) > 1
    keep = (mask == 0).expand_as(reference)
    assert torch.equal(tiled[keep], reference[keep])
    # same prior everywhere; only the transformer's view differs near tile borders (max 0.016-0.033 here)
    assert float((tiled - whole).abs().max()) < 0.1


def test_tiles_without_generated_pixels_are_skipped():
    mask = torch.zeros(1, 1, 512, 512)
    mask[..., :40, :40] = 1
    assert count_tiles(mask, 128, 32) == 1
    assert count_tiles(torch.ones(1, 1, 512, 512), 128, 32) == len(plan_tiles(512, 512, 128, 32))


def test_tile_plan_and_feathering():
    tiles = plan_tiles(300, 200, 128, 32)
    covered = torch.zeros(300, 200)
    for tile in tiles:
        assert tile.top % 32 == 0 and tile.left % 32 == 0
        rows, cols = tile.slices()
        weight = feather_weight(tile, 300, 200, 32)
        assert weight.shape == (tile.height, tile.width) and float(weight.min()) > 0
        covered[rows, cols] += weight
    assert float(covered.min()) > 0
    single = plan_tiles(300, 200, 0, 32)
    assert len(single) == 1 and (single[0].height, single[0].width) == (300, 200)


def test_tile_for_budget_is_whole_image_when_it_fits_else_the_largest_tile():
    assert tile_for_budget(1024, 768, budget_bytes=1024 * 768 * 1400, bytes_per_pixel=1400, overlap=64) == 0
    assert tile_for_budget(4096, 4096, budget_bytes=8e9, bytes_per_pixel=1400, overlap=64) == 2368
    assert 2368**2 * 1400 <= 8e9 < (2368 + 32) ** 2 * 1400
    assert tile_for_budget(4096, 4096, budget_bytes=1e6, bytes_per_pixel=1400, overlap=64) == 128  # floor
    assert tile_for_budget(4096, 4096, budget_bytes=1e6, bytes_per_pixel=1400, overlap=160) == 192


def test_activation_estimate_at_the_released_size():
    """~1.4 kB per output pixel in fp32, the CPU peak measured with bench/restore.py between 256 and 512 px."""
    with torch.device("meta"):
        model = DiffRIRS2(DiffRIRConfig(scale=1))
    assert activation_bytes_per_pixel(model) == pytest.approx(281 * 2 * 10 * 4 / 16)


def test_safetensors_without_duplicated_keys_loads(tmp_path):
    state = tiny_diffrir.tiny_state_dict(scale=1)
    stripped = {k: v for k, v in state.items() if not k.startswith(("diffusion.model.", "diffusion.condition."))}
    save_file(stripped, str(tmp_path / "dedup.safetensors"))
    model = load_diffrir(tmp_path / "dedup.safetensors")
    assert torch.equal(model.condition.E[0].weight, state["condition.E.0.weight"])


def test_missing_key_is_a_clear_error(tmp_path):
    state = tiny_diffrir.tiny_state_dict(scale=2)
    del state["G.refinement.0.ffn.kernel.0.weight"]
    torch.save({"params_ema": state}, tmp_path / "broken.pth")
    with pytest.raises(ValueError, match="1 missing keys.*G.refinement.0.ffn.kernel.0.weight"):
        load_diffrir(tmp_path / "broken.pth")


def test_not_a_diffrir_file_is_a_clear_error(tmp_path):
    torch.save({"params": {"conv.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="not a DiffRIR S2 state dict"):
        load_diffrir(tmp_path / "other.pth")


class _Payload:
    def __reduce__(self):
        return (print, ("code ran",))


def test_pth_is_loaded_weights_only(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as handle:
        pickle.dump({"params_ema": {"x": torch.zeros(1)}, "payload": _Payload()}, handle, protocol=2)
    with pytest.raises(pickle.UnpicklingError):
        read_state_dict(path)


def test_params_is_used_when_params_ema_is_absent(tmp_path):
    state = tiny_diffrir.tiny_state_dict(scale=4)
    torch.save({"params": state}, tmp_path / "raw.pth")
    assert load_diffrir(tmp_path / "raw.pth").config.scale == 4
