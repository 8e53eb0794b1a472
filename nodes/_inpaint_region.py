"""Inpaint one window at the model's working size with ComfyUI's own encoders, VAE and samplers.

Shared by the edit-plan applier and the canvas expander. The geometry (which window, how to paste it
back) is host-free in ``editing.region``; this module only turns a window into a decoded window:
  text -> conditioning (the pack's long-prompt encoder for CLIP models, core encoding otherwise)
  pixels + mask -> latent (InpaintModelConditioning semantics for inpainting models, a noise mask otherwise)
  comfy.sample.sample with a latent-preview callback -> VAE decode.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import comfy.model_management as mm
import comfy.sample
import comfy.samplers
import comfy.utils
import latent_preview
import node_helpers
import torch

from ..conditioning.long_prompt import encode_sentences, probe_layouts
from ..editing.region import RegionPlan, crop_for_work, plan_region, resize_image, resize_mask, stitch
from . import _types as types
from ._oom import GENERAL_ADVICE, retry_on_oom
from ._types import io

LONG_PROMPT_WINDOWS = 4  # LLMGA's 4 x 75 tokens covers what an MLLM writes for one region


@dataclass(frozen=True)
class SamplingSettings:
    """What a KSampler takes, besides model and conditioning."""

    seed: int
    steps: int
    cfg: float
    sampler_name: str
    scheduler: str
    denoise: float = 1.0

    def for_step(self, index: int) -> SamplingSettings:
        """Step/tile `index` samples with seed + index, wrapped into the 64-bit range seeds may take."""
        return replace(self, seed=(self.seed + index) % 2**64)


def sampling_inputs(unit: str) -> list:
    """KSampler's widgets (seed .. scheduler, in its order) for a node that samples once per `unit`."""
    return [
        types.seed_input(f"Sampling seed; {unit} i uses seed + i. Same inputs and seed give the same image."),
        io.Int.Input("steps", default=20, min=1, max=10000, tooltip=f"Sampler steps per {unit}."),
        io.Float.Input("cfg", default=7.0, min=0.0, max=100.0, step=0.1, round=0.01,
                       tooltip="Classifier-free guidance scale."),
        io.Combo.Input("sampler_name", options=comfy.samplers.KSampler.SAMPLERS,
                       tooltip="The sampler, as in KSampler."),
        io.Combo.Input("scheduler", options=comfy.samplers.KSampler.SCHEDULERS,
                       tooltip="The noise schedule, as in KSampler."),
    ]


def encode_text(clip, text: str) -> list:
    """CONDITIONING for `text`: sentence-windowed long-prompt encoding on 77-token CLIP encoders (no token
    lost past 77), core encoding for every other text encoder."""
    layouts, _ = probe_layouts(clip)
    if layouts is None:
        return clip.encode_from_tokens_scheduled(clip.tokenize(text or ""))
    encoded, _report = encode_sentences(clip, text or "", layouts, LONG_PROMPT_WINDOWS, "auto", False, {}, [])
    return encoded


def is_inpainting_model(model) -> bool:
    """True for models that take the mask and masked image as extra input channels (SD inpainting, Fill)."""
    return bool(getattr(model.model, "concat_keys", ()))


def inpaint_latent(model, vae, pixels: torch.Tensor, mask: torch.Tensor, positive: list, negative: list):
    """(positive, negative, latent) for sampling a window. pixels [B,h,w,3], mask [1|B,h,w], sides multiples
    of 8. Inpainting models get core InpaintModelConditioning's inputs: the window grey-filled under the
    rounded mask as concat latent, the soft mask as concat mask; every model gets the mask as noise mask
    (1 = regenerate, 0 = keep)."""
    noise_mask = mask.reshape(-1, 1, mask.shape[-2], mask.shape[-1]).float()
    latent = {"samples": vae.encode(pixels[..., :3]), "noise_mask": noise_mask}
    if is_inpainting_model(model):
        keep = (1.0 - noise_mask.round()).squeeze(1)[..., None]
        grey_filled = (pixels[..., :3] - 0.5) * keep + 0.5
        extra = {"concat_latent_image": vae.encode(grey_filled), "concat_mask": noise_mask}
        positive = node_helpers.conditioning_set_values(positive, extra)
        negative = node_helpers.conditioning_set_values(negative, extra)
    return positive, negative, latent


def preview_callback(model, steps: int, bar=None, offset: int = 0, total: int | None = None):
    """Sampler callback that shows latent previews and advances a progress bar (interrupt is checked on
    every update). Without `bar` it is core's own callback; with one, sampler step k is reported as
    offset + k + 1 of `total`, so a loop of several samplings can share one bar."""
    if bar is None:
        return latent_preview.prepare_callback(model, steps)
    previewer = latent_preview.get_previewer(model.load_device, model.model.latent_format)

    def callback(step, x0, x, total_steps):
        preview = previewer.decode_latent_to_preview_image("JPEG", x0) if previewer else None
        bar.update_absolute(offset + step + 1, total, preview)

    return callback


@torch.no_grad()
def inpaint_window(model, clip, vae, image: torch.Tensor, mask: torch.Tensor, positive, negative,
                   sampling: SamplingSettings, callback=None) -> torch.Tensor:
    """Regenerate `mask` (1 = regenerate) in window `image` [B,h,w,3] (h, w multiples of 8) -> decoded
    window [B,h,w,3] float32 on the intermediate device.

    positive / negative: prompt text (encoded here with `clip`) or ready CONDITIONING lists.
    callback: a sampler callback (see preview_callback); default: core's preview + progress bar."""
    height, width = image.shape[1], image.shape[2]
    if height % 8 or width % 8:
        raise ValueError(f"inpaint window {width}x{height} must have sides that are multiples of 8")
    mm.throw_exception_if_processing_interrupted()
    if mask.dim() == 2:
        mask = mask[None]
    positive = encode_text(clip, positive) if isinstance(positive, str) else positive
    negative = encode_text(clip, negative) if isinstance(negative, str) else negative
    positive, negative, latent = inpaint_latent(model, vae, image, mask, positive, negative)

    samples = comfy.sample.fix_empty_latent_channels(model, latent["samples"])
    noise = comfy.sample.prepare_noise(samples, sampling.seed)
    if callback is None:
        callback = preview_callback(model, sampling.steps)
    samples = comfy.sample.sample(
        model, noise, sampling.steps, sampling.cfg, sampling.sampler_name, sampling.scheduler, positive, negative,
        samples, denoise=sampling.denoise, noise_mask=latent["noise_mask"], callback=callback,
        disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED, seed=sampling.seed)
    decoded = vae.decode(samples)
    if decoded.dim() == 5:  # video VAEs decode [B,T,H,W,C]
        decoded = decoded.reshape(-1, *decoded.shape[-3:])
    return decoded[..., :3].float().to(mm.intermediate_device())


def inpaint_region(model, clip, vae, image: torch.Tensor, mask: torch.Tensor, positive, negative,
                   sampling: SamplingSettings, grow_px: int = 8, feather_px: int = 16, context_px: int = 32,
                   resolution: int = 512, in_place: bool = False, callback=None,
                   ) -> tuple[torch.Tensor, RegionPlan | None]:
    """Crop a window around `mask` [H,W] (1 = change) from IMAGE [B,H,W,C], inpaint it at `resolution`
    (longer side), stitch it back -> (image, plan). An empty mask returns (image, None) untouched.
    Pixels farther than grow_px + feather_px from the mask are bit-identical; in_place writes into `image`."""
    plan = plan_region(mask, grow_px, feather_px, context_px, resolution)
    if plan is None:
        return image, None
    window, window_mask = crop_for_work(image, plan)
    result = inpaint_window_fitting(model, clip, vae, window, window_mask, positive, negative, sampling, callback)
    return stitch(image, plan, result, in_place=in_place), plan


# After an out-of-memory error a window is sampled once more at half its pixels, then scaled back up.
RETRY_PIXEL_SHARE = 0.5
SMALLEST_RETRY_SIDE = 64
INPAINT_ADVICE = ("a smaller working size (Plan Canvas: tile_size; Apply Edit Plan: resolution), a smaller "
                  "diffusion model (SD1.5 instead of SDXL/Flux), a quantized or server MLLM so it does not "
                  "share the card; " + GENERAL_ADVICE)


def inpaint_window_fitting(model, clip, vae, image: torch.Tensor, mask: torch.Tensor, positive, negative,
                           sampling: SamplingSettings, callback=None, what: str = "inpainting a window"):
    """inpaint_window, and when the GPU runs out of memory: free it and sample once more at half the pixels
    (sides multiples of 8); a second OOM is an actionable error. The retried result keeps its smaller size:
    stitch and paste_tile resize whatever they are given to the window, once."""
    height, width = image.shape[1], image.shape[2]

    def run(scale: float) -> torch.Tensor:
        if scale == 1.0:
            return inpaint_window(model, clip, vae, image, mask, positive, negative, sampling, callback)
        small_h, small_w = _retry_side(height, scale), _retry_side(width, scale)
        pixels = resize_image(image[..., :3], small_w, small_h)
        small_mask = resize_mask(mask, small_w, small_h).clamp(0, 1)
        return inpaint_window(model, clip, vae, pixels, small_mask, positive, negative, sampling, callback)

    def shrink(scale: float) -> float | None:
        smaller = scale * RETRY_PIXEL_SHARE**0.5
        fits = min(_retry_side(height, smaller), _retry_side(width, smaller)) >= SMALLEST_RETRY_SIDE
        return smaller if fits else None

    def describe(scale: float) -> str:
        return f"{_retry_side(width, scale)}x{_retry_side(height, scale)} px"

    return retry_on_oom(run, 1.0, shrink, what, INPAINT_ADVICE, describe)


def _retry_side(side: int, scale: float) -> int:
    return side if scale == 1.0 else max(8, int(side * scale) // 8 * 8)
