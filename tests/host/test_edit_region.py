"""Region inpainting (crop -> inpaint at working size -> stitch) with the real ComfyUI samplers and the
tiny SD1.5 / SD1.5-inpainting checkpoints."""

import pytest
import torch

from genassist.editing.region import plan_region
from harness.inprocess import node, pack_module


@pytest.fixture(scope="module")
def glue(comfy_host):
    return pack_module(comfy_host, "nodes._inpaint_region")


def load(comfy_host, name):
    return node(comfy_host, "CheckpointLoaderSimple")(name)


@pytest.fixture(scope="module")
def inpaint_ckpt(comfy_host, tiny):
    return load(comfy_host, tiny.sd15_inpaint())


@pytest.fixture(scope="module")
def plain_ckpt(comfy_host, tiny):
    return load(comfy_host, tiny.sd15())


def picture(height=96, width=128, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(1, height, width, 3, generator=generator)


def box_mask(height, width, x0, y0, x1, y1):
    mask = torch.zeros(height, width)
    mask[y0:y1, x0:x1] = 1
    return mask


def settings(glue, seed=1, **kw):
    return glue.SamplingSettings(seed=seed, steps=kw.get("steps", 2), cfg=kw.get("cfg", 4.0),
                                 sampler_name="euler", scheduler="normal", denoise=kw.get("denoise", 1.0))


def test_inpainting_model_gets_core_inpaint_conditioning(comfy_host, glue, inpaint_ckpt):
    model, clip, vae = inpaint_ckpt
    assert glue.is_inpainting_model(model)
    pixels, mask = picture(64, 64), box_mask(64, 64, 16, 8, 40, 48)[None]
    positive, negative = glue.encode_text(clip, "a red vase"), glue.encode_text(clip, "")
    ours = glue.inpaint_latent(model, vae, pixels, mask, positive, negative)
    core = node(comfy_host, "InpaintModelConditioning")(positive=positive, negative=negative, pixels=pixels,
                                                        vae=vae, mask=mask)
    for side in (0, 1):
        assert torch.equal(ours[side][0][1]["concat_latent_image"], core[side][0][1]["concat_latent_image"])
        assert torch.equal(ours[side][0][1]["concat_mask"], core[side][0][1]["concat_mask"])
        assert "concat_latent_image" not in positive[0][1]  # inputs are not mutated
    assert torch.equal(ours[2]["samples"], core[2]["samples"])
    assert torch.equal(ours[2]["noise_mask"], core[2]["noise_mask"])


def test_plain_model_gets_only_a_noise_mask(glue, plain_ckpt):
    model, clip, vae = plain_ckpt
    assert not glue.is_inpainting_model(model)
    pixels, mask = picture(64, 64), box_mask(64, 64, 16, 8, 40, 48)[None]
    positive, _, latent = glue.inpaint_latent(model, vae, pixels, mask, glue.encode_text(clip, "x"), [])
    assert "concat_latent_image" not in positive[0][1]
    assert latent["noise_mask"].shape == (1, 1, 64, 64) and latent["noise_mask"].sum() == 24 * 40


def test_long_prompt_encoding_keeps_tokens_past_77(comfy_host, glue, plain_ckpt):
    _, clip, _ = plain_ckpt
    text = "a tall glass of dark soda with ice cubes and a slice of lemon on the rim. " * 8
    cond = glue.encode_text(clip, text)
    core = node(comfy_host, "CLIPTextEncode")(clip=clip, text=text)[0]
    assert cond[0][0].shape[1] % 77 == 0 and cond[0][0].shape[1] >= 2 * 77
    short = glue.encode_text(clip, "a red vase")
    assert torch.equal(short[0][0], node(comfy_host, "CLIPTextEncode")(clip=clip, text="a red vase")[0][0][0])
    assert core[0][0].shape[1] % 77 == 0


@pytest.mark.parametrize("which", ["inpaint", "plain"])
def test_window_inpaint_is_seeded_and_shaped(glue, inpaint_ckpt, plain_ckpt, which):
    model, clip, vae = inpaint_ckpt if which == "inpaint" else plain_ckpt
    pixels, mask = picture(64, 48), box_mask(64, 48, 8, 8, 40, 56)

    def run(seed):
        return glue.inpaint_window(model, clip, vae, pixels, mask, "a blue cup", "blurry", settings(glue, seed))

    first, again, other = run(1), run(1), run(2)
    assert first.shape == (1, 64, 48, 3) and first.dtype == torch.float32
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert not first.requires_grad and 0 <= float(first.min()) and float(first.max()) <= 1


def test_window_sides_must_be_multiples_of_8(glue, inpaint_ckpt):
    model, clip, vae = inpaint_ckpt
    with pytest.raises(ValueError, match="multiples of 8"):
        glue.inpaint_window(model, clip, vae, picture(60, 64), box_mask(60, 64, 0, 0, 8, 8), "x", "",
                            settings(glue))


def test_region_inpaint_leaves_everything_outside_grow_and_feather_bit_identical(glue, inpaint_ckpt):
    model, clip, vae = inpaint_ckpt
    image = picture(96, 160)
    mask = box_mask(96, 160, 100, 30, 124, 58)
    out, plan = glue.inpaint_region(model, clip, vae, image, mask, "a small green plant", "", settings(glue),
                                    grow_px=4, feather_px=6, context_px=8, resolution=64)
    assert out.shape == image.shape and plan is not None
    w = plan.window
    assert (w.x0, w.y0, w.x1, w.y1) == (82, 12, 142, 76)  # bbox padded by 4 + 6 + 8
    assert (w.work_width, w.work_height) == (64, 64)  # longer side 64, rounded to multiples of 8
    reach = torch.zeros_like(mask)
    reach[30 - 10:58 + 10, 100 - 10:124 + 10] = 1  # grow + feather around the box
    outside = reach == 0
    assert torch.equal(out[0][outside], image[0][outside])
    inside = mask > 0
    assert (out[0][inside] - image[0][inside]).abs().mean() > 0.01
    assert torch.equal(image, picture(96, 160))  # the input was not written


def test_region_inpaint_in_place_and_empty_mask(glue, inpaint_ckpt):
    model, clip, vae = inpaint_ckpt
    canvas = picture(80, 80)
    before = canvas.clone()
    same, plan = glue.inpaint_region(model, clip, vae, canvas, torch.zeros(80, 80), "x", "", settings(glue))
    assert plan is None and same is canvas and torch.equal(canvas, before)
    out, plan = glue.inpaint_region(model, clip, vae, canvas, box_mask(80, 80, 4, 4, 20, 20), "x", "",
                                    settings(glue), grow_px=2, feather_px=2, context_px=4, resolution=64,
                                    in_place=True)
    assert out is canvas and not torch.equal(canvas, before)
    assert torch.equal(canvas[:, 30:, 30:], before[:, 30:, 30:])


def test_plan_region_matches_what_the_glue_used():
    mask = box_mask(50, 70, 10, 10, 20, 20)
    plan = plan_region(mask, 2, 3, 0, 64)
    assert (plan.window.x0, plan.window.y0, plan.window.x1, plan.window.y1) == (5, 5, 25, 25)


def test_step_seeds_stay_in_the_64_bit_range(glue):
    last = settings(glue, seed=2**64 - 1)
    assert last.for_step(0).seed == 2**64 - 1
    assert last.for_step(1).seed == 0  # seed + index would overflow torch.manual_seed
    assert settings(glue, seed=7).for_step(3).seed == 10
