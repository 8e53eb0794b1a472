"""Restoration nodes: DiffRIR reference-based restorer and the weight-free seam harmonizer."""

import logging
from dataclasses import dataclass

import folder_paths
import torch

from ..restoration.diffrir import DiffRIRS2
from ..restoration.diffrir_checkpoint import load_diffrir
from ..restoration.harmonize import HarmonizeSettings, harmonize_seams
from ..restoration.restore import activation_bytes_per_pixel, count_tiles, resize_to, restore_image
from ..restoration.tiling import halve_tile, tile_for_budget
from . import _types as types
from ._memory import load_for_inference, preferred_dtype, wrap_model
from ._oom import GENERAL_ADVICE, retry_on_oom
from ._progress import check_interrupt, progress_bar
from ._tensors import as_rgb, mask_for, same_batch
from ._types import io, output

log = logging.getLogger("GenAssist")

CATEGORY = "GenAssist/restoration"
# share of the device's free memory an automatic tile size may plan for (the estimate is rough)
FREE_MEMORY_SHARE = 0.8
WEIGHTS_HELP = ("Put DiffRIR S2 weights (basicsr .pth with params_ema, or .safetensors) in ComfyUI/models/diffrir/ "
                "(from the Google Drive folder linked in the Zj-BinXia/DiffRIR README: "
                "https://drive.google.com/drive/folders/18FWpDCE9z3vS9hEvezxROzTz5hwozRiz), then refresh.")
RESTORE_ADVICE = ("Restore with DiffRIR: a smaller tile_size (128 or 256); Load DiffRIR: dtype fp16 or bf16; "
                  + GENERAL_ADVICE)


@dataclass
class Restorer:
    """What flows along a GENASSIST_RESTORER link: the wrapped network and where it came from."""

    patcher: object
    name: str

    @property
    def model(self) -> DiffRIRS2:
        return self.patcher.model


def _image_pair(node: str, image: torch.Tensor, reference: torch.Tensor) -> list[torch.Tensor]:
    """image and reference as [B,3,H,W], a batch of 1 shared with the other input's batch."""
    pair = same_batch(node, image=as_rgb(image, "image"), reference=as_rgb(reference, "reference"))
    return [t.permute(0, 3, 1, 2).contiguous() for t in pair]


class GenAssist_LoadDiffRIR(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_LoadDiffRIR",
            display_name="Load DiffRIR (GenAssist)",
            category=CATEGORY,
            description=(
                "Load a DiffRIR restorer (LLMGA's reference-based restoration network, x1/x2/x4 read from the "
                "file) from models/diffrir. It fixes colour shift and seams of inpainted/outpainted regions "
                "using the original image as reference."),
            inputs=[
                io.Combo.Input("model_name", options=folder_paths.get_filename_list("diffrir"), tooltip=(
                    "DiffRIR S2 weights in models/diffrir (.pth basicsr checkpoint or .safetensors). The scale "
                    "(x1, x2, x4) is read from the weights.")),
                types.dtype_input("Compute precision. auto: bf16/fp16 on GPU, fp32 on CPU."),
            ],
            outputs=[output(types.RESTORER, "restorer", tooltip=(
                "The DiffRIR network, managed by ComfyUI's memory manager; connect to Restore with DiffRIR "
                "(GenAssist)."))],
        )

    @classmethod
    def execute(cls, model_name, dtype="auto") -> io.NodeOutput:
        import comfy.model_management as mm

        path = folder_paths.get_full_path("diffrir", model_name) if model_name else None
        if not path:
            raise FileNotFoundError(f"DiffRIR weights {model_name!r} not found in models/diffrir. {WEIGHTS_HELP}")
        model = load_diffrir(path).to(preferred_dtype(mm.get_torch_device(), dtype))
        return io.NodeOutput(Restorer(wrap_model(model, role="model", label=f"DiffRIR {model_name}"), model_name))


class GenAssist_Restore(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_Restore",
            display_name="Restore with DiffRIR (GenAssist)",
            category=CATEGORY,
            description=(
                "Restore the generated region of an inpainted/outpainted image with DiffRIR, using the original "
                "as reference: colour shift, brightness and seams are corrected, and pixels outside the mask are "
                "copied from the reference unchanged. Runs in one pass when the image fits in memory, else in "
                "overlapping tiles that share the whole image's prior."),
            inputs=[
                types.RESTORER.Input("restorer", tooltip="From Load DiffRIR (GenAssist)."),
                io.Image.Input("image", tooltip=(
                    "The generated image (VAE decode of the inpaint/outpaint). For an x2/x4 restorer, the "
                    "low-resolution image; it is resized to reference/scale if needed.")),
                io.Image.Input("reference", tooltip=(
                    "The original image (for outpainting, the padded canvas). Only pixels outside the mask are "
                    "used.")),
                io.Mask.Input("mask", tooltip=(
                    "1 = generated region to restore, 0 = original pixels to keep. Resized to the reference; one "
                    "mask, or one per image. A batch of 1 in any input is shared with the others.")),
                types.seed_input("Seed of DiffRIR's 4-step prior sampler; the same seed and inputs give the same "
                                 "output."),
                io.Int.Input("tile_size", default=0, min=0, max=8192, step=32, tooltip=(
                    "Tile side in output pixels. 0 = automatic: the whole image in one pass (DiffRIR's own "
                    "result) when it fits in free memory, else the largest tiles that fit. Smaller tiles use "
                    "less memory.")),
                io.Int.Input("tile_overlap", default=64, min=0, max=1024, step=32, tooltip=(
                    "Overlap between tiles, blended smoothly to hide tile borders.")),
            ],
            outputs=[output(io.Image, "image", tooltip=(
                "Restored image at the reference's size: network output inside the mask, the reference outside "
                "it."))],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, restorer, image, reference, mask, seed, tile_size=0, tile_overlap=64) -> io.NodeOutput:
        unique_id = cls.hidden.unique_id
        if tile_size and (tile_size < 64 or tile_overlap >= tile_size):
            raise ValueError(f"tile_size must be 0 or >= 64 and larger than tile_overlap "
                             f"(got {tile_size}, {tile_overlap})")
        image, reference = _image_pair("Restore", image, reference)
        masks = mask_for(reference.permute(0, 2, 3, 1), mask).unsqueeze(1)
        scale = restorer.model.scale
        height, width = reference.shape[-2:]
        lq_size = (-(-height // scale), -(-width // scale))
        if tuple(image.shape[-2:]) != lq_size:
            log.info("GenAssist Restore: resizing image %s to %s (reference / x%d)",
                     tuple(image.shape[-2:]), lq_size, scale)
            image = resize_to(image, *lq_size)
        tile_size = _tile_size(restorer, tile_size, tile_overlap, height, width)  # loads the restorer

        def run(tile: int) -> torch.Tensor:
            if tile != tile_size:  # the retry (halve_tile never gives the same size): free_gpu_memory()
                _load(restorer, tile, height, width)  # unloaded every model after the first attempt's OOM
            return _restore_batch(restorer, image, reference, masks, seed, tile, tile_overlap, unique_id)

        # out of memory: free it and retry once with tiles half as large, as core's upscaler does
        out = retry_on_oom(run, tile_size, lambda tile: halve_tile(tile, height, width, tile_overlap),
                           "Restore with DiffRIR", RESTORE_ADVICE, describe=_describe_tile)
        return io.NodeOutput(out.permute(0, 2, 3, 1).contiguous())


def _describe_tile(tile: int) -> str:
    return f"tiles of {tile} px" if tile else "the whole image in one pass"


def _load(restorer: Restorer, tile: int, height: int, width: int):
    """Load the restorer onto its device with room for one pass at ``tile`` (0: the whole image)."""
    pixels = tile**2 if tile else height * width
    return load_for_inference(restorer.patcher, activation_bytes=int(pixels * activation_bytes_per_pixel(restorer.model)))


def _restore_batch(restorer: Restorer, image, reference, masks, seed: int, tile: int, overlap: int,
                   unique_id) -> torch.Tensor:
    """Every item at one tile size -> [B,3,H,W], with the restorer already loaded."""
    total = sum(count_tiles(m[None], tile, overlap) for m in masks)
    bar = progress_bar(max(total, 1), unique_id)

    def tile_done():
        bar.update(1)
        check_interrupt()

    outputs = []
    for index in range(image.shape[0]):
        check_interrupt()
        outputs.append(restore_image(restorer.patcher.model, image[index:index + 1], reference[index:index + 1],
                                     masks[index:index + 1], seed, tile, overlap, on_tile=tile_done))
    return torch.cat(outputs)


def _tile_size(restorer: Restorer, tile_size: int, overlap: int, height: int, width: int) -> int:
    """Load the restorer with room for the planned pass (the only load of a run that does not run out of
    memory); 0 (auto) becomes 0 (whole image) when that fits in FREE_MEMORY_SHARE of the device's free
    memory, else the largest tile that does (free memory is read with the weights already on the device)."""
    import comfy.model_management as mm

    device = _load(restorer, tile_size, height, width)
    if tile_size:
        return tile_size
    per_pixel = activation_bytes_per_pixel(restorer.model)
    free = mm.get_free_memory(device)
    chosen = tile_for_budget(height, width, free * FREE_MEMORY_SHARE, per_pixel, overlap)
    log.info("GenAssist Restore on %s: %s (%.0f MiB free, about %.0f MiB for the whole image)", device,
             f"tiles of {chosen} px" if chosen else "whole image in one pass", free / 2**20,
             height * width * per_pixel / 2**20)
    return chosen


class GenAssist_HarmonizeSeams(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_HarmonizeSeams",
            display_name="Harmonize Seams (GenAssist)",
            category=CATEGORY,
            description=(
                "Weight-free seam fix for inpainting/outpainting: matches brightness, contrast, colour and detail "
                "of the generated region to the original pixels along the seam, then blends across the seam band "
                "by band. Original pixels are copied unchanged."),
            inputs=[
                io.Image.Input("image", tooltip="The generated image (resized to the reference if needed)."),
                io.Image.Input("reference", tooltip="The original image. Only pixels outside the mask are read."),
                io.Mask.Input("mask", tooltip=(
                    "1 = generated region, 0 = original pixels. Resized to the reference; one mask, or one per "
                    "image. A batch of 1 in any input is shared with the others.")),
                io.Int.Input("seam_width", default=0, min=0, max=256, step=1, optional=True, tooltip=(
                    "Width in pixels of the band the blend spreads over (0 = automatic, 1/64 of the short side, "
                    "8 to 32).")),
            ],
            outputs=[output(io.Image, "image", tooltip=(
                "The image with the generated region harmonized; outside the mask it is the reference, bit for "
                "bit."))],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, image, reference, mask, seam_width=0) -> io.NodeOutput:
        image, reference = _image_pair("Harmonize Seams", image, reference)
        masks = mask_for(reference.permute(0, 2, 3, 1), mask).unsqueeze(1)
        image = resize_to(image, *reference.shape[-2:])
        bar = progress_bar(image.shape[0], cls.hidden.unique_id)

        def item_done():
            bar.update(1)
            check_interrupt()

        check_interrupt()
        out = harmonize_seams(image, reference, masks, HarmonizeSettings(seam_width=seam_width),
                              on_item=item_done)
        return io.NodeOutput(out.permute(0, 2, 3, 1).contiguous())


NODES = [GenAssist_LoadDiffRIR, GenAssist_Restore, GenAssist_HarmonizeSeams]
