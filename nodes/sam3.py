"""Load SAM 3: a phrase -> every matching instance, as a GENASSIST_SEGMENTER (Segment, Apply Edit Plan...)."""

import logging

import folder_paths

from ..segmentation.encoder_memory import sam3_activation_bytes
from ..segmentation.sam3 import (
    DEFAULT_THRESHOLD,
    QUERY_MODES,
    SAM3_CACHE_IMAGES,
    Sam3Runner,
    load_sam3,
    sam3_classes,
)
from ..segmentation.sam3_store import OFFICIAL, resolve_sam3
from . import _types as types
from ._folders import sam3_folders
from ._memory import preferred_dtype, wrap_model
from ._mllm_handle import ModelContainer
from ._segmenters import LoggingCache, Sam3Segmenter
from ._types import io, output

log = logging.getLogger("GenAssist")

CATEGORY = "GenAssist/segmentation"


def _sam3_choices() -> list[str]:
    return sorted(set(sam3_folders()) | set(OFFICIAL))


class LoadSAM3(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GenAssist_LoadSAM3",
            display_name="Load SAM 3 (GenAssist)",
            category=CATEGORY,
            description=(
                "Load SAM 3 (Segment Anything with Concepts) from its Hugging Face folder in models/sams. A short "
                "noun phrase ('vase', 'red car') gives a mask for every matching instance in one pass, without an "
                "MLLM. The image encoder runs once per image and is reused for every phrase. Needs transformers "
                "5.0 or newer."),
            inputs=[
                io.Combo.Input("model", options=_sam3_choices(), tooltip=(
                    "A SAM 3 folder in models/sams, as released on Hugging Face (config.json, model.safetensors, "
                    "processor_config.json, tokenizer.json). 'sam3' (facebook/sam3) is listed even before it is "
                    "downloaded.")),
                types.dtype_input("Weights precision. auto: bf16 (or fp16) on GPU, fp32 on CPU."),
                io.Float.Input("score_threshold", default=DEFAULT_THRESHOLD, min=0.0, max=1.0, step=0.01, tooltip=(
                    "Keep instances whose score (detection x presence) is above this. Lower finds more, and more "
                    "false ones.")),
                io.Combo.Input("query", options=list(QUERY_MODES), default="noun phrase", tooltip=(
                    "noun phrase: a request such as 'segment the vase that stands on the table' is cut to "
                    "'vase' (leading verbs and articles dropped, text before 'that/which/who/where' kept, at most "
                    "6 words); as is: the text goes to SAM 3 unchanged. The explanation says which phrase was "
                    "used.")),
                io.Boolean.Input("download", default=False, tooltip=(
                    "If 'sam3' is missing or incomplete, download facebook/sam3 into models/sams/sam3 (a gated "
                    "repository: accept its licence and log in or set HF_TOKEN first). HF_HUB_OFFLINE=1 forbids "
                    "downloading.")),
            ],
            outputs=[output(types.SEGMENTER, "segmenter", tooltip=(
                "The SAM 3 segmenter (managed by ComfyUI's memory manager), for Segment and Apply Edit Plan."))],
        )

    @classmethod
    def execute(cls, model, dtype="auto", score_threshold=DEFAULT_THRESHOLD, query="noun phrase",
                download=False) -> io.NodeOutput:
        import comfy.model_management as mm

        sam3_classes()  # a clear error on an old transformers before anything else
        folder = resolve_sam3(model, folder_paths.get_folder_paths("sams"), download=download)
        torch_dtype = preferred_dtype(mm.get_torch_device(), dtype)
        sam3, processor = load_sam3(folder, torch_dtype)
        patcher = wrap_model(ModelContainer(sam3), role="model", label=f"SAM 3 {model}")
        # Two images: SAM 3's cached features (FPN maps at 1008 px) are ~100 MB each, kept on the device.
        runner = Sam3Runner(sam3, processor, LoggingCache(f"3 {model}", max_items=SAM3_CACHE_IMAGES), model_id=folder)
        log.info("GenAssist: loaded SAM 3 %s (%s)", model, torch_dtype)
        return io.NodeOutput(Sam3Segmenter(runner, patcher, model, score_threshold, query,
                                           sam3_activation_bytes(sam3.config, torch_dtype)))


NODES = [LoadSAM3]
