"""Restoration nodes through the real ComfyUI registry: loading, restoring, harmonizing, errors."""

import pytest
import torch

from harness.inprocess import node

NODE_IDS = ("GenAssist_LoadDiffRIR", "GenAssist_Restore", "GenAssist_HarmonizeSeams")


def _images(batch=1, height=64, width=96, seed=0):
    gen = torch.Generator().manual_seed(seed)
    reference = torch.rand(batch, height, width, 3, generator=gen)
    image = torch.rand(batch, height, width, 3, generator=gen)
    mask = torch.zeros(batch, height, width)
    mask[:, 10:50, 40:90] = 1
    return image, reference, mask


@pytest.fixture(scope="module")
def restorer_x1(comfy_host, tiny):
    name = tiny.diffrir(scale=1)
    (restorer,) = node(comfy_host, "GenAssist_LoadDiffRIR")(name, "auto")
    return restorer


def test_nodes_registered_with_their_types(comfy_host):
    mapping = comfy_host.NODE_CLASS_MAPPINGS
    assert all(node_id in mapping for node_id in NODE_IDS)
    assert tuple(mapping["GenAssist_LoadDiffRIR"].RETURN_TYPES) == ("GENASSIST_RESTORER",)
    assert mapping["GenAssist_Restore"].INPUT_TYPES()["required"]["restorer"][0] == "GENASSIST_RESTORER"
    assert tuple(mapping["GenAssist_Restore"].RETURN_TYPES) == ("IMAGE",)
    assert tuple(mapping["GenAssist_HarmonizeSeams"].RETURN_TYPES) == ("IMAGE",)
    assert comfy_host.NODE_DISPLAY_NAME_MAPPINGS["GenAssist_HarmonizeSeams"] == "Harmonize Seams (GenAssist)"


def test_loader_lists_files_in_models_diffrir(comfy_host, tiny):
    names = {tiny.diffrir(scale=1), tiny.diffrir(scale=2, fmt="safetensors")}
    listed = node(comfy_host, "GenAssist_LoadDiffRIR").choices("model_name")
    assert names <= set(listed)


def test_restore_runs_with_comfy_memory_management(comfy_host, restorer_x1):
    import comfy.model_management as mm

    image, reference, mask = _images(batch=2)
    restore_node = node(comfy_host, "GenAssist_Restore")
    (out,) = restore_node(restorer_x1, image, reference, mask, seed=5, tile_size=64, tile_overlap=32)
    assert out.shape == reference.shape and out.device.type == "cpu"
    keep = (mask == 0)[..., None].expand_as(reference)
    assert torch.equal(out[keep], reference[keep])
    assert any(loaded.model is restorer_x1.patcher for loaded in mm.current_loaded_models)
    (again,) = restore_node(restorer_x1, image, reference, mask, seed=5, tile_size=64, tile_overlap=32)
    assert torch.equal(out, again)


@pytest.mark.parametrize("tile_size", [0, 64])
def test_restore_loads_the_restorer_once_per_run(comfy_host, restorer_x1, model_loads, tile_size):
    image, reference, mask = _images(batch=2)
    (out,) = node(comfy_host, "GenAssist_Restore")(restorer_x1, image, reference, mask, seed=5,
                                                           tile_size=tile_size, tile_overlap=32)
    assert out.shape == reference.shape
    assert model_loads == [[restorer_x1.patcher]]


def test_default_tile_size_gives_the_whole_image_result_when_it_fits(comfy_host, restorer_x1):
    from genassist.restoration.restore import restore_image

    image, reference, mask = _images()
    restore = node(comfy_host, "GenAssist_Restore")
    assert restore.INPUT_TYPES()["required"]["tile_size"][1]["default"] == 0
    (out,) = restore(restorer_x1, image, reference, mask, seed=4)
    whole = restore_image(restorer_x1.model, image.permute(0, 3, 1, 2), reference.permute(0, 3, 1, 2),
                          mask[:, None], seed=4, tile=0)
    # float32 rounding only (memory layouts differ); a tiled pass differs by ~1e-2 (tests/unit/test_diffrir.py)
    assert float((out - whole.permute(0, 2, 3, 1)).abs().max()) <= 1e-6


def test_automatic_tiles_when_free_memory_is_short(comfy_host, restorer_x1, monkeypatch):
    import comfy.model_management as mm

    from genassist.restoration.restore import activation_bytes_per_pixel

    image, reference, mask = _images(height=256, width=320)
    mask[:, 20:240, 20:300] = 1
    per_pixel = activation_bytes_per_pixel(restorer_x1.model)
    def short_of_memory(dev=None, torch_free_too=False):  # the real signature: on CUDA ComfyUI asks for a pair
        free = per_pixel * 160 * 160
        return (free, free) if torch_free_too else free

    monkeypatch.setattr(mm, "get_free_memory", short_of_memory)
    passes = []
    hook = restorer_x1.model.G.register_forward_pre_hook(lambda module, args: passes.append(args[1].clone()))
    try:
        (out,) = node(comfy_host, "GenAssist_Restore")(restorer_x1, image, reference, mask, seed=4)
    finally:
        hook.remove()
    assert out.shape == reference.shape and len(passes) > 1  # 0.8 x 160^2 px per pass: tiles of 128 px
    assert all(torch.equal(prior, passes[0]) for prior in passes)  # one whole-image prior for all tiles


def test_restore_x2_takes_a_half_size_image(comfy_host, tiny):
    (restorer,) = node(comfy_host, "GenAssist_LoadDiffRIR")(tiny.diffrir(scale=2, fmt="safetensors"), "fp32")
    assert restorer.model.scale == 2
    _, reference, mask = _images()
    low = torch.rand(1, 32, 48, 3)
    (out,) = node(comfy_host, "GenAssist_Restore")(restorer, low, reference, mask[0], seed=0,
                                                           tile_size=0, tile_overlap=0)
    assert out.shape == (1, 64, 96, 3)
    assert torch.equal(out[0][mask[0] == 0], reference[0][mask[0] == 0])


def test_missing_weights_error_says_where_to_put_them(comfy_host):
    with pytest.raises(FileNotFoundError, match="models/diffrir"):
        node(comfy_host, "GenAssist_LoadDiffRIR")("nope.pth", "auto")


def test_restore_rejects_mismatched_batches_and_bad_tiles(comfy_host, restorer_x1):
    image, reference, mask = _images(batch=2)
    restore_node = node(comfy_host, "GenAssist_Restore")
    with pytest.raises(ValueError, match="batch sizes"):
        restore_node(restorer_x1, image, torch.cat([reference, reference[:1]]), mask, 0, 0, 0)
    with pytest.raises(ValueError, match="tile_size"):
        restore_node(restorer_x1, image, reference, mask, 0, 64, 64)


def test_restore_honours_interrupt(comfy_host, restorer_x1):
    import comfy.model_management as mm

    image, reference, mask = _images()
    mm.interrupt_current_processing(True)
    try:
        with pytest.raises(mm.InterruptProcessingException):
            node(comfy_host, "GenAssist_Restore")(restorer_x1, image, reference, mask, 0, 64, 32)
    finally:
        mm.interrupt_current_processing(False)


def test_harmonize_node_batches_and_resizes(comfy_host):
    _, reference, mask = _images(batch=2)
    image = (reference * 1.07 + 0.04).clamp(0, 1)[:, ::2, ::2]  # generated at half size
    (out,) = node(comfy_host, "GenAssist_HarmonizeSeams")(image, reference[:1], mask[:1])
    assert out.shape == (2, 64, 96, 3)
    keep = (mask[0] == 0)
    assert torch.equal(out[0][keep], reference[0][keep]) and torch.equal(out[1][keep], reference[0][keep])


def test_harmonize_accepts_rgba_and_grayscale(comfy_host):
    _, reference, mask = _images()
    rgba = torch.cat([reference, torch.ones(1, 64, 96, 1)], -1)
    gray = reference.mean(-1, keepdim=True)
    (out,) = node(comfy_host, "GenAssist_HarmonizeSeams")(gray, rgba, mask, seam_width=8)
    assert out.shape == (1, 64, 96, 3)
    assert torch.equal(out[0][mask[0] == 0], reference[0][mask[0] == 0])
