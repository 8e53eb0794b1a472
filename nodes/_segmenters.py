"""The values on GENASSIST_SAM and GENASSIST_SEGMENTER links, with ComfyUI memory management.

A segmenter answers ``segment(image: PIL, query, node_id=None, instruction="", box=None) -> Segmentation``
(binary instance masks at the image's size plus an explanation) and ``segment_box(image, box) -> mask or
None``. Nothing found is a normal result (no masks), never an exception. ``instruction`` is the edit the
region is for and ``box`` (x0, y0, x1, y1 pixels) a plan's hint where to look (Apply Edit Plan); a
segmenter uses what its model can read and ignores the rest. ``segment_box`` is SAM's mask for a pixel box,
used to refine a plan's box (None: this segmenter has no box-only SAM).
"""

import logging
from dataclasses import dataclass

import comfy.model_management as mm
import torch

from ..mllm.backend import GenerationSettings
from ..mllm.vision_cache import FeatureCache
from ..segmentation.encoder_memory import sam_activation_bytes
from ..segmentation.grounding import convention_for, frame_for, ground
from ..segmentation.sam3 import DEFAULT_THRESHOLD, Sam3Runner, phrase_for
from ..segmentation.sam_cache import SAM_CACHE_IMAGES
from ..segmentation.sam_predict import Prompt, SamPredictor
from ._memory import load_for_inference
from ._oom import LISA_ADVICE, SAM3_ADVICE, fail_on_oom
from ._progress import check_interrupt, text_streamer

log = logging.getLogger("GenAssist")


@dataclass
class Segmentation:
    masks: torch.Tensor  # [N, H, W] float32 0/1 on CPU, one per instance
    explanation: str


class LoggingCache(FeatureCache):
    """Embedding cache that logs every real encoder pass (how users and tests see the cache work)."""

    def __init__(self, label: str, max_items: int = SAM_CACHE_IMAGES):
        super().__init__(max_items)
        self.label = label

    def get_or_compute(self, key, compute, tensors=()):
        def logged():
            value = compute()
            log.info("GenAssist SAM %s: image encoder pass %d (image %s)", self.label, self.encoder_passes + 1,
                     key[:12])
            return value

        return super().get_or_compute(key, logged, tensors)


class SamHandle:
    """GENASSIST_SAM: a segment-anything model in a ModelPatcher, with its embedding cache."""

    def __init__(self, sam, spec, name: str, patcher):
        self.spec = spec
        self.name = name
        self.patcher = patcher
        self.dtype = next(sam.parameters()).dtype
        self.cache = LoggingCache(name)

    def __repr__(self) -> str:
        return f"SamHandle({self.name}: {self.spec.variant})"

    def predictor(self) -> SamPredictor:
        """Load onto the compute device (ComfyUI may have evicted it) and return a predictor."""
        load_for_inference(self.patcher, sam_activation_bytes(self.spec, self.dtype))
        return SamPredictor(self.patcher.model.inner, self.cache, model_id=self.name)


def qwen_resize_params(mllm) -> dict | None:
    """min/max pixels and patch factor of a local Qwen2.5-VL processor, when the handle has one."""
    processor = getattr(getattr(getattr(mllm, "backend", None), "processor", None), "image_processor", None)
    if processor is None:
        return None
    size = getattr(processor, "size", None) or {}
    min_pixels = getattr(processor, "min_pixels", None) or size.get("shortest_edge")
    max_pixels = getattr(processor, "max_pixels", None) or size.get("longest_edge")
    factor = int(getattr(processor, "patch_size", 14)) * int(getattr(processor, "merge_size", 2))
    params = {"factor": factor}
    if min_pixels:
        params["min_pixels"] = int(min_pixels)
    if max_pixels:
        params["max_pixels"] = int(max_pixels)
    return params


def edit_query(region: str, instruction: str) -> str:
    """LISA's query for an edit step: the sub-instruction and the region it changes, as TIE's fine-tuned LISA
    is asked per sub-instruction (our wording; TIE's prompt is unpublished)."""
    region, instruction = " ".join(region.split()), " ".join((instruction or "").split()).rstrip(".")
    if not instruction:
        return region
    return f"To {instruction[0].lower()}{instruction[1:]}, which region of the image must change: {region}?"


def sam_box_mask(predictor: SamPredictor, image, box) -> torch.Tensor | None:
    """SAM's mask [H,W] 0/1 for one xyxy pixel box, or None when it is empty."""
    logits = predictor.masks_for_prompts(predictor.embed(image), [Prompt(box=tuple(float(v) for v in box))])
    mask = (logits[0] > 0).float()
    return mask if bool(mask.any()) else None


class GroundedSegmenter:
    """Any GENASSIST_MLLM answers boxes/points as JSON; SAM turns them into masks."""

    kind = "grounded"

    def __init__(self, mllm, sam: SamHandle, box_format: str = "auto", max_new_tokens: int = 1024,
                 seed: int = 0):
        self.mllm = mllm
        self.sam = sam
        self.convention = convention_for(getattr(mllm, "family", ""), box_format)
        self.settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=0.0, seed=seed)

    def segment_box(self, image, box) -> torch.Tensor | None:
        check_interrupt()
        return sam_box_mask(self.sam.predictor(), image, box)

    def segment(self, image, query: str, node_id=None, instruction: str = "", box=None) -> Segmentation:
        # the grounding prompt names one thing to find: the edit instruction would blur it, and the MLLM
        # answers boxes itself, so neither instruction nor box is used
        frame = frame_for(self.convention, image.width, image.height,
                          qwen_resize_params(self.mllm) if self.convention == "qwen2.5-vl" else None)
        result = ground(lambda messages, settings: self.mllm.generate(messages, settings, node_id=node_id),
                        image, query, frame, self.settings)
        check_interrupt()
        if result.error:
            log.warning("GenAssist: unusable grounding answer for %r: %s", query, result.error)
            return Segmentation(torch.zeros(0, image.height, image.width),
                                f"Nothing segmented: the model's answer could not be read as boxes "
                                f"({result.error}). Answer was: {result.answers[-1][:300]!r}")
        if not result.found:
            reason = f" {result.explanation}" if result.explanation else ""
            return Segmentation(torch.zeros(0, image.height, image.width),
                                f"Nothing found for {query!r}.{reason}")
        predictor = self.sam.predictor()
        prompts = [Prompt(box=o.box, points=o.points) for o in result.objects]
        logits = predictor.masks_for_prompts(predictor.embed(image), prompts)
        labels = ", ".join(o.label for o in result.objects if o.label)
        explanation = result.explanation or f"Found {len(prompts)} object(s)"
        if labels:
            explanation += f" [{labels}]"
        return Segmentation((logits > 0).float(), explanation)


class LisaSegmenter:
    """LISA: the model writes [SEG] tokens whose hidden states prompt its own SAM."""

    kind = "lisa"

    def __init__(self, model, patcher, max_new_tokens: int = 512, activation_bytes: int = 0):
        self.model = model
        self.patcher = patcher
        self.settings = GenerationSettings(max_new_tokens=max_new_tokens, temperature=0.0)
        self.activation_bytes = activation_bytes

    def _load(self):
        if self.patcher is not None:  # None: quantized, resident on the GPU
            load_for_inference(self.patcher, self.activation_bytes)

    def segment_box(self, image, box) -> torch.Tensor | None:
        check_interrupt()
        self._load()
        return sam_box_mask(self.model.predictor, image, box)

    def segment(self, image, query: str, node_id=None, instruction: str = "", box=None) -> Segmentation:
        check_interrupt()  # LISA finds its own region from the query: a box is not one of its inputs
        query = edit_query(query, instruction)
        result = fail_on_oom(lambda: self._run(image, query, node_id), "LISA", LISA_ADVICE)
        check_interrupt()
        masks = (result.logits > 0).float()
        if masks.shape[0] == 0:
            return Segmentation(masks, f"Nothing found for {query!r}: the model wrote no [SEG] token. "
                                       f"Answer: {result.answer!r}")
        return Segmentation(masks, result.answer)

    def _run(self, image, query: str, node_id):
        self._load()
        return self.model.segment(image, query, self.settings, on_text=text_streamer(node_id),
                                  should_stop=mm.processing_interrupted)


def _scores(scores) -> str:
    shown = ", ".join(f"{float(s):.2f}" for s in scores[:8])
    return shown + (", ..." if len(scores) > 8 else "")


class Sam3Segmenter:
    """GENASSIST_SEGMENTER backed by SAM 3: a box (pixels, x0 y0 x1 y1) is given to SAM 3 as a positive box
    prompt next to the phrase; the edit instruction is not a noun phrase, so it is not used."""

    kind = "sam3"

    def __init__(self, runner: Sam3Runner, patcher, name: str, threshold: float = DEFAULT_THRESHOLD,
                 query_mode: str = "noun phrase", activation_bytes: int = 0):
        self.runner = runner
        self.patcher = patcher
        self.name = name
        self.threshold = threshold
        self.query_mode = query_mode
        self.activation_bytes = activation_bytes

    def _run(self, image, phrase: str, box):
        load_for_inference(self.patcher, self.activation_bytes)
        return self.runner.segment(image, phrase, self.threshold, box=box)

    def __repr__(self) -> str:
        return f"Sam3Segmenter({self.name}, threshold {self.threshold})"

    def segment_box(self, image, box) -> None:
        return None  # SAM 3 reads the box inside segment(), next to the phrase

    def segment(self, image, query: str, node_id=None, instruction: str = "", box=None) -> Segmentation:
        check_interrupt()
        phrase = phrase_for(query, self.query_mode)
        result = fail_on_oom(lambda: self._run(image, phrase, box), f"SAM 3 {self.name}", SAM3_ADVICE)
        check_interrupt()
        said = " ".join(query.split())
        source = f" (cut from the query {said!r})" if phrase != said else " (the query as is)"
        prompt = f" with the box prompt {tuple(round(float(v)) for v in box)}" if box is not None else ""
        count = result.masks.shape[0]
        if count == 0:
            log.info("GenAssist SAM 3: nothing for %r above score %.2f (best score %.2f)", phrase,
                     self.threshold, result.best_score)
            return Segmentation(result.masks, f"Nothing found for {phrase!r}{source}{prompt}: no instance "
                                              f"scored above {self.threshold:.2f} (best {result.best_score:.2f}).")
        return Segmentation(result.masks, f"SAM 3 found {count} instance(s) of {phrase!r}{source}{prompt}, "
                                          f"scores {_scores(result.scores)}.")
