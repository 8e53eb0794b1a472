"""Out of GPU memory where the pack tiles (Restore with DiffRIR, Expand Canvas windows), in the real ComfyUI
registry: a stand-in for a small card raises torch's real OOM type for work above a size, so a retry at a
smaller size succeeds and says so; when everything is too big the error names what to change, and the
next prompt still runs."""

import json
import logging

import pytest
import torch

from harness.inprocess import node, pack_module

OOM_MESSAGE = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 8.00 GiB"


def small_card(limit_pixels: float, calls: list):
    """A function wrapper that behaves like a card fitting at most ``limit_pixels`` per call: bigger inputs
    raise the exception ComfyUI catches for OOM (torch.cuda.OutOfMemoryError)."""
    import comfy.model_management as mm

    def wrap(real, pixels_of):
        def stand_in(*args, **kwargs):
            pixels = pixels_of(*args, **kwargs)
            calls.append(pixels)
            if pixels > limit_pixels:
                raise mm.OOM_EXCEPTION(OOM_MESSAGE)
            return real(*args, **kwargs)
        return stand_in
    return wrap


def assert_actionable(error: BaseException, *names: str):
    text = str(error)
    assert type(error).__name__ == "GenAssistOutOfMemory", repr(error)
    assert "Tried to allocate 2.00 GiB" in text and "--lowvram" in text and "next prompt can run" in text
    for name in names:
        assert name in text
    # the raw OOM is not chained: no CUDA trace in the report and no frames (tensors) kept alive
    assert error.__context__ is None and error.__cause__ is None


def test_only_out_of_memory_is_retried_and_interrupts_pass_through(comfy_host):
    import comfy.model_management as mm

    oom = pack_module(comfy_host, "nodes._oom")
    for error in (ValueError("tile_size must be 0 or >= 64"), mm.InterruptProcessingException()):
        calls = []

        def run(size, error=error, calls=calls):
            calls.append(size)
            raise error

        with pytest.raises(type(error)):
            oom.retry_on_oom(run, 512, lambda size: size // 2, "a step", "advice")
        assert calls == [512]


def test_halved_tile_sizes(comfy_host):
    halve = pack_module(comfy_host, "restoration.tiling").halve_tile
    assert halve(0, 256, 320, 64) == 160  # whole image: half its longer side
    assert halve(512, 2048, 2048, 64) == 256
    assert halve(300, 2048, 2048, 64) == 128  # a multiple of 32
    assert halve(192, 2048, 2048, 64) is None  # 96 is below the 128 px floor
    assert halve(256, 2048, 2048, 128) is None  # not above the overlap


# ---- Restore with DiffRIR ----

@pytest.fixture(scope="module")
def restorer(comfy_host, tiny):
    (loaded,) = node(comfy_host, "GenAssist_LoadDiffRIR")(tiny.diffrir(scale=1), "auto")
    return loaded


def _restore_inputs(size=256):
    gen = torch.Generator().manual_seed(3)
    reference = torch.rand(1, size, size, 3, generator=gen)
    image = torch.rand(1, size, size, 3, generator=gen)
    mask = torch.zeros(1, size, size)
    mask[:, 40:220, 30:200] = 1
    return image, reference, mask


@pytest.fixture
def diffrir_card(comfy_host, monkeypatch):
    """Install the small-card stand-in around DiffRIR's per-tile pass; returns (set limit, calls seen)."""
    restore_module = pack_module(comfy_host, "restoration.restore")
    calls = []
    real = restore_module.run_padded

    def install(limit_pixels):
        wrapped = small_card(limit_pixels, calls)(real, lambda model, lq, ref, *a, **k: ref.shape[-2] * ref.shape[-1])
        monkeypatch.setattr(restore_module, "run_padded", wrapped)
    return install, calls


def test_restore_retries_once_with_half_tiles_and_says_so(comfy_host, restorer, diffrir_card, caplog, model_loads):
    from genassist.restoration.restore import restore_image

    install, calls = diffrir_card
    install(limit_pixels=160 * 160)  # the whole 256 px image does not fit, 128 px tiles do
    image, reference, mask = _restore_inputs()
    with caplog.at_level(logging.INFO, logger="GenAssist"):
        (out,) = node(comfy_host, "GenAssist_Restore")(restorer, image, reference, mask, seed=7,
                                                               tile_size=0, tile_overlap=64)
    assert calls[0] == 256 * 256 and max(calls[1:]) <= 128 * 128 and len(calls) > 2
    assert "out of GPU memory in Restore with DiffRIR at the whole image in one pass" in caplog.text
    assert "retrying once at tiles of 128 px" in caplog.text
    assert model_loads == [[restorer.patcher]] * 2  # the planned pass, and again after the OOM unloaded it
    tiled = restore_image(restorer.model, image.permute(0, 3, 1, 2), reference.permute(0, 3, 1, 2),
                          mask[:, None], seed=7, tile=128, overlap=64)
    # float32 rounding only (memory layouts differ), as in test_restoration_nodes
    assert float((out - tiled.permute(0, 2, 3, 1)).abs().max()) <= 1e-6


def test_restore_out_of_memory_twice_names_what_to_change_and_the_next_prompt_runs(comfy_host, restorer,
                                                                                  diffrir_card):
    import comfy.model_management as mm

    install, calls = diffrir_card
    install(limit_pixels=64 * 64)  # not even 128 px tiles fit
    image, reference, mask = _restore_inputs()
    restore = node(comfy_host, "GenAssist_Restore")
    with pytest.raises(Exception) as caught:
        restore(restorer, image, reference, mask, seed=7, tile_size=256, tile_overlap=64)
    assert_actionable(caught.value, "Restore with DiffRIR at tiles of 256 px and again at tiles of 128 px",
                      "tile_size", "fp16")
    assert calls[0] == 256 * 256 and calls[-1] == 128 * 128
    assert not any(loaded.model is restorer.patcher for loaded in mm.current_loaded_models), "left loaded"
    install(limit_pixels=float("inf"))  # the next prompt, on a card where it fits
    (out,) = restore(restorer, image, reference, mask, seed=7, tile_size=256, tile_overlap=64)
    keep = (mask == 0)[..., None].expand_as(reference)
    assert out.shape == reference.shape and torch.equal(out[keep], reference[keep])


def test_no_smaller_tile_fails_at_once_with_the_error(comfy_host, restorer, diffrir_card):
    install, calls = diffrir_card
    install(limit_pixels=0)
    image, reference, mask = _restore_inputs(size=192)
    with pytest.raises(Exception) as caught:  # half of 192 is below the 128 px floor: no retry
        node(comfy_host, "GenAssist_Restore")(restorer, image, reference, mask, seed=1, tile_size=128,
                                                      tile_overlap=64)
    assert_actionable(caught.value, "Restore with DiffRIR at tiles of 128 px (")
    assert len(calls) == 1


# ---- Expand Canvas ----

@pytest.fixture(scope="module")
def inpaint_ckpt(comfy_host, tiny):
    return node(comfy_host, "CheckpointLoaderSimple")(tiny.sd15_inpaint())


def _one_tile_plan(comfy_host, side=96):
    """A side x side source grown side/3 px to the left: one tile, seen in a side px window."""
    grow = side // 3
    data = {"global_caption": "a harbour", "width": side + grow, "height": side, "tile_size": side,
            "source": {"x": grow, "y": 0, "width": side, "height": side},
            "tiles": [{"x": 0, "y": 0, "width": grow, "height": side, "direction": "left", "caption": "a quay"}]}
    plan, _ = node(comfy_host, "GenAssist_CanvasPlanFromJSON")(json.dumps(data))
    return plan


@pytest.fixture
def sampler_card(monkeypatch):
    """The small-card stand-in around the sampler: pixels = latent area x 64."""
    import comfy.sample

    calls = []
    real = comfy.sample.sample

    def install(limit_pixels):
        wrapped = small_card(limit_pixels, calls)(real, lambda model, noise, *a, **k: noise.shape[-2] * noise.shape[-1] * 64)
        monkeypatch.setattr(comfy.sample, "sample", wrapped)
    return install, calls


def expand(comfy_host, ckpt, plan, seed=0):
    model, clip, vae = ckpt
    source = torch.rand(1, plan.height, plan.height, 3, generator=torch.Generator().manual_seed(seed))
    out = node(comfy_host, "GenAssist_ExpandCanvas")(source, plan, model, clip, vae, seed, 2, 4.0, "euler",
                                                            "normal", 1.0, 4, False)
    return source, out


def test_canvas_tile_retries_at_half_the_pixels_and_says_so(comfy_host, inpaint_ckpt, sampler_card, caplog):
    install, calls = sampler_card
    install(limit_pixels=80 * 80)  # the 96 px window does not fit, 64 px does
    plan = _one_tile_plan(comfy_host)
    with caplog.at_level(logging.INFO, logger="GenAssist"):
        source, (out, mask, _) = expand(comfy_host, inpaint_ckpt, plan)
    assert calls == [96 * 96, 64 * 64]
    assert "out of GPU memory in Expand Canvas tile 1 at 96x96 px" in caplog.text
    assert "retrying once at 64x64 px" in caplog.text
    assert out.shape == (1, 96, 128, 3) and torch.equal(out[0, :, 32:], source[0])
    assert out[0, :, :32].std() > 0.01  # the retried tile was generated and pasted


def test_canvas_out_of_memory_twice_names_what_to_change_and_the_next_prompt_runs(comfy_host, inpaint_ckpt,
                                                                                 sampler_card):
    install, calls = sampler_card
    install(limit_pixels=32 * 32)
    plan = _one_tile_plan(comfy_host)
    with pytest.raises(Exception) as caught:
        expand(comfy_host, inpaint_ckpt, plan)
    assert_actionable(caught.value, "Expand Canvas tile 1 at 96x96 px and again at 64x64 px", "tile_size",
                      "quantized or server MLLM")
    install(limit_pixels=float("inf"))  # the next prompt (a smaller one: sampling on the CPU is slow)
    source, (out, _, _) = expand(comfy_host, inpaint_ckpt, _one_tile_plan(comfy_host, side=64))
    assert calls[-1] == 64 * 64 and out.shape == (1, 64, 85, 3) and torch.equal(out[0, :, 21:], source[0])
