"""Reasoning segmentation: 'the object people would sit on' -> MASK, by LISA or by an MLLM + SAM."""

import logging

import folder_paths
import torch

from ..segmentation.grounding import CONVENTIONS
from ..segmentation.lisa_store import DEFAULT_VISION_TOWER, LISA_MODELS, VISION_TOWERS, is_lisa_folder
from ..segmentation.sam_masks import feather, grow, overlay, union
from ..segmentation.sam_model import HUB_FILES, OFFICIAL_FILES
from . import _types as types
from ._folders import list_model_dirs, sam3_folders
from ._memory import preferred_dtype, wrap_model
from ._mllm_handle import ModelContainer
from ._progress import check_interrupt, progress_bar
from ._segmenters import GroundedSegmenter, LisaSegmenter, SamHandle, Segmentation
from ._tensors import as_rgb, to_pil
from ._types import io, output

log = logging.getLogger("GenAssist")

CATEGORY = "GenAssist/segmentation"
INSTANCE_MODES = ("union", "one mask per instance")
BOX_FORMATS = ("auto", *CONVENTIONS)


def _sam_choices() -> list[str]:
    """SAM files in models/sams (subfolders too: transformers' sam-vit-* folders), not the files of SAM 3
    folders, which Load SAM 3 reads."""
    sam3_dirs = set(sam3_folders())
    files = {name for name in folder_paths.get_filename_list("sams") if name.split("/")[0] not in sam3_dirs}
    return sorted(files | set(OFFICIAL_FILES) | set(HUB_FILES))


def _lisa_choices() -> list[str]:
    return sorted(set(list_model_dirs("LLM", is_lisa_folder)) | set(LISA_MODELS))


def _vision_choices() -> list[str]:
    others = [d for d in list_model_dirs("LLM") if "clip" in d.lower() and d not in VISION_TOWERS]
    return [DEFAULT_VISION_TOWER] + sorted(others)


class LoadSAM(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_LoadSAM",
            display_name="Load SAM (GenAssist)",
            category=CATEGORY,
            description=(
                "Load a segment-anything (SAM) model from models/sams. ViT-H, ViT-L and ViT-B are recognised from "
                "the weights; the official files can be downloaded here. Used by Grounded Segmenter to turn boxes "
                "into masks. Image embeddings are cached, so several queries on one image run the heavy image "
                "encoder once."),
            inputs=[
                io.Combo.Input("model_name", options=_sam_choices(), tooltip=(
                    "A checkpoint in models/sams (.pth or .safetensors). The official names "
                    "(sam_vit_h_4b8939.pth, sam_vit_l_0b3195.pth, sam_vit_b_01ec64.pth) and "
                    "sam_vit_b_01ec64.safetensors (Hugging Face) are listed even before they are downloaded; "
                    "transformers' facebook/sam-vit-* model.safetensors loads too.")),
                types.dtype_input("Weights precision. auto: bf16 (or fp16) on GPU, fp32 on CPU."),
                io.Boolean.Input("download", default=False, tooltip=(
                    "If the file is missing and is an official one, download it from dl.fbaipublicfiles.com "
                    "into models/sams (checked against the checksum in its name), or the Hugging Face "
                    "safetensors file (checked to hold SAM). HF_HUB_OFFLINE=1 forbids downloading.")),
            ],
            outputs=[output(types.SAM, "sam", tooltip=(
                "The SAM model (managed by ComfyUI's memory manager), for Grounded Segmenter."))],
        )

    @classmethod
    def execute(cls, model_name, dtype="auto", download=False) -> io.NodeOutput:
        import comfy.model_management as mm

        from ..segmentation.sam_model import load_sam_file
        from ..segmentation.sam_store import resolve_sam

        path = resolve_sam(model_name, folder_paths.get_full_path("sams", model_name),
                           folder_paths.get_folder_paths("sams"), download=download)
        torch_dtype = preferred_dtype(mm.get_torch_device(), dtype)
        sam, spec = load_sam_file(path, torch_dtype)
        patcher = wrap_model(ModelContainer(sam), role="model", label=f"SAM {model_name}")
        log.info("GenAssist: loaded SAM %s (%s, %s)", model_name, spec.variant, torch_dtype)
        return io.NodeOutput(SamHandle(sam, spec, model_name, patcher))


class LoadLISA(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_LoadLISA",
            display_name="Load LISA (GenAssist)",
            category=CATEGORY,
            description=(
                "Load a LISA reasoning-segmentation model (LISA-7B-v1, -explanatory, LISA-13B-llama2-v1, LISA++) "
                "from its released checkpoint folder in models/LLM, with the CLIP-L/14 vision tower from its own "
                "folder. LISA writes a [SEG] token whose hidden state prompts its built-in SAM."),
            inputs=[
                io.Combo.Input("model", options=_lisa_choices(), tooltip=(
                    "LISA checkpoint folder under models/LLM (as released on Hugging Face: config.json, "
                    "tokenizer, pytorch_model-*.bin).")),
                io.Combo.Input("vision_tower", options=_vision_choices(), default=DEFAULT_VISION_TOWER, tooltip=(
                    "Folder under models/LLM with openai/clip-vit-large-patch14 (224 px). LISA checkpoints do "
                    "not contain it.")),
                types.dtype_input("Weights precision. auto: bf16 (or fp16) on GPU, fp32 on CPU. 7B needs about "
                                  "16 GB in 16-bit."),
                io.Combo.Input("quantization", options=["none", "8bit", "4bit"], default="none", tooltip=(
                    "8/4-bit weights for the language model only, via bitsandbytes (CUDA only; must be "
                    "installed). SAM and the [SEG] head stay in full precision. A quantized model stays on the "
                    "GPU.")),
                io.Int.Input("max_new_tokens", default=512, min=8, max=2048, tooltip=(
                    "Longest answer (explanatory models write a sentence or two after [SEG]).")),
                io.Boolean.Input("download", default=False, tooltip=(
                    "Fetch a missing listed model (and the CLIP tower) from Hugging Face into models/LLM. A "
                    "complete copy is never re-downloaded; HF_HUB_OFFLINE=1 forbids downloading.")),
                io.Boolean.Input("compile", default=False, optional=True, tooltip=(
                    "Record LISA's decoding step (with a pre-allocated KV cache) as CUDA graphs for faster "
                    "answers on a GPU. The first query records first (logged); later queries replay it. Falls "
                    "back to torch.compile, then to normal decoding, logging why.")),
            ],
            outputs=[output(types.SEGMENTER, "segmenter", tooltip="The LISA segmenter, for GenAssist Segment.")],
        )

    @classmethod
    def execute(cls, model, vision_tower, dtype="auto", quantization="none", max_new_tokens=512, download=False,
                compile=False) -> io.NodeOutput:
        import comfy.model_management as mm

        from ..segmentation.encoder_memory import lisa_activation_bytes
        from ..segmentation.lisa import load_lisa
        from ..segmentation.lisa_quant import quantize_language_model
        from ..segmentation.lisa_store import resolve_lisa, resolve_vision_tower

        search = folder_paths.get_folder_paths("LLM")
        folder = resolve_lisa(model, search, download=download)
        vision_dir = resolve_vision_tower(vision_tower, search, download=download)
        torch_dtype = preferred_dtype(mm.text_encoder_device(), dtype)
        lisa = load_lisa(folder, vision_dir, dtype=torch_dtype)
        lisa.decode_mode = "compile" if compile else "auto"
        patcher = None
        if quantization != "none":  # bitsandbytes weights cannot move between devices: keep all on the GPU
            device = mm.get_torch_device()
            quantize_language_model(lisa, quantization, device)
            lisa.to(device)
        else:
            patcher = wrap_model(ModelContainer(lisa), role="text_encoder", label=f"LISA {model}")
        log.info("GenAssist: loaded LISA %s (%s)", model, torch_dtype)
        return io.NodeOutput(LisaSegmenter(lisa, patcher, max_new_tokens,
                                           lisa_activation_bytes(lisa.sam_spec, torch_dtype)))


class GroundedSegmenterNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_GroundedSegmenter",
            display_name="Grounded Segmenter (GenAssist)",
            category=CATEGORY,
            description=(
                "Reasoning segmentation with any MLLM: it reasons about the query and answers JSON boxes (and "
                "points), which SAM turns into masks. A malformed answer gets one repair retry; if it is still "
                "unusable the result is an empty mask with the reason, not an error."),
            inputs=[
                types.MLLM.Input("mllm", tooltip="Any MLLM (Load MLLM or MLLM Server). It must see images."),
                types.SAM.Input("sam", tooltip="From Load SAM."),
                io.Combo.Input("box_format", options=list(BOX_FORMATS), default="auto", tooltip=(
                    "Coordinates the model is asked for. auto: Qwen2.5-VL -> pixels of its resized input, "
                    "Qwen3-VL/Qwen3.5/Qwen2-VL -> 0-1000, Gemma/PaliGemma -> loc1024 (<locYYYY> tokens read too), "
                    "InternVL -> internvl (<box> tags read too), others -> 0-1000. For a Qwen2.5-VL behind a "
                    "server, pick qwen2.5-vl.")),
                io.Int.Input("max_new_tokens", default=1024, min=64, max=8192,
                             tooltip="Longest answer (thinking models need more)."),
                types.seed_input("Seed for the model (decoding is greedy; the seed only matters for servers that "
                                 "sample anyway)."),
            ],
            outputs=[output(types.SEGMENTER, "segmenter", tooltip="MLLM + SAM segmenter, for GenAssist Segment.")],
        )

    @classmethod
    def execute(cls, mllm, sam, box_format="auto", max_new_tokens=1024, seed=0) -> io.NodeOutput:
        return io.NodeOutput(GroundedSegmenter(mllm, sam, box_format, max_new_tokens, seed))


def _finish(masks: torch.Tensor, grow_px: int, feather_px: int) -> torch.Tensor:
    return feather(grow(masks, grow_px), feather_px)


class Segment(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_Segment",
            display_name="Segment (GenAssist)",
            category=CATEGORY,
            description=(
                "Segment what a query describes, e.g. 'the object people would sit on', with a LISA or grounded "
                "segmenter. MASK: 1 = the object (ready for inpainting), at the image's size. Nothing found "
                "gives an all-zero mask and says so in the explanation."),
            inputs=[
                types.SEGMENTER.Input("segmenter", tooltip="From Load LISA, Grounded Segmenter or Load SAM 3."),
                io.Image.Input("image", tooltip="Image(s) to segment; every batch item is segmented."),
                io.String.Input("query", multiline=True, default="the object people would sit on",
                                tooltip="What to segment, in words; it may need reasoning."),
                io.Combo.Input("instances", options=list(INSTANCE_MODES), default="union", tooltip=(
                    "union: all matches in one mask; one mask per instance: separate masks.")),
                io.Int.Input("grow_px", default=0, min=-256, max=256, tooltip=(
                    "Grow (positive) or shrink (negative) the mask by this many pixels; inpainting usually "
                    "wants a few more.")),
                io.Int.Input("feather_px", default=0, min=0, max=256,
                             tooltip="Soften the mask edge over this many pixels."),
            ],
            outputs=[
                output(io.Mask, "mask", tooltip=(
                    "1 = the object. union: one mask per image; one mask per instance: every instance of every "
                    "image (an image with none gives one empty mask).")),
                output(io.String, "explanation", tooltip="What the model said about the query, one line per image."),
                output(io.Image, "overlay", tooltip="Preview: the image with the mask in red (one per output mask)."),
            ],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    def execute(cls, segmenter, image, query, instances="union", grow_px=0, feather_px=0) -> io.NodeOutput:
        unique_id = cls.hidden.unique_id
        rgb = as_rgb(image)
        pils = to_pil(rgb)
        masks, owners, lines = [], [], []
        bar = progress_bar(len(pils), unique_id)
        for index, pil in enumerate(pils):
            check_interrupt()
            result: Segmentation = segmenter.segment(pil, query, node_id=unique_id)
            found = _finish(result.masks, grow_px, feather_px)
            height, width = rgb.shape[1], rgb.shape[2]
            if instances == "union" or found.shape[0] == 0:
                found = union(found, height, width).unsqueeze(0)
            masks.append(found)
            owners += [index] * found.shape[0]
            prefix = f"image {index + 1}: " if len(pils) > 1 else ""
            lines.append(prefix + result.explanation)
            bar.update(1)
        mask = torch.cat(masks).float().clamp(0, 1)
        previews = torch.stack([overlay(rgb[i], m) for i, m in zip(owners, mask)])
        return io.NodeOutput(mask, "\n".join(lines), previews)


NODES = [LoadSAM, LoadLISA, GroundedSegmenterNode, Segment]
