"""SAM 3 (Segment Anything with Concepts): a noun phrase in, a mask for every matching instance out.

Built on transformers' Sam3Model / Sam3Processor (transformers 5.0 or newer). The image encoder runs once
per image: its output is cached by image content, and every further phrase on that image reuses it (the
text encoder, DETR and mask decoder are small next to the ViT). Host-free: the caller moves the model.
"""

import logging
from dataclasses import dataclass

import numpy as np
import torch

from ..mllm.vision_cache import FeatureCache
from .noun_phrase import noun_phrase
from .sam_cache import image_key

log = logging.getLogger(__name__)

MIN_TRANSFORMERS = "5.0"
DEFAULT_THRESHOLD = 0.5
QUERY_MODES = ("noun phrase", "as is")


class Sam3UnavailableError(ImportError):
    """The installed transformers has no SAM 3."""


def sam3_classes():
    """(Sam3Model, Sam3Processor), or an error naming the transformers version needed."""
    import transformers

    try:
        from transformers import Sam3Model, Sam3Processor
    except ImportError:
        raise Sam3UnavailableError(
            f"SAM 3 needs transformers {MIN_TRANSFORMERS} or newer (Sam3Model); this environment has "
            f"transformers {transformers.__version__}. Upgrade it in ComfyUI's Python: "
            f"python -m pip install -U \"transformers>={MIN_TRANSFORMERS}\"") from None
    return Sam3Model, Sam3Processor


def load_sam3(folder: str, dtype: torch.dtype = torch.float32):
    """(model in eval mode on the CPU, processor) from a SAM 3 folder in the Hugging Face layout."""
    model_class, processor_class = sam3_classes()
    model = model_class.from_pretrained(folder, dtype=dtype).eval()
    processor = processor_class.from_pretrained(folder)
    return model, processor


@dataclass
class Sam3Result:
    masks: torch.Tensor  # [N, H, W] float32 0/1 on CPU, one per instance above the threshold
    scores: torch.Tensor  # [N] detection score x presence score, highest first
    boxes: torch.Tensor  # [N, 4] x0, y0, x1, y1 in pixels
    phrase: str  # what the model was given
    best_score: float  # the highest score of any query, kept or not (0 when the model has no queries)


def phrase_for(query: str, mode: str = "noun phrase") -> str:
    if mode not in QUERY_MODES:
        raise ValueError(f"query mode must be one of {', '.join(QUERY_MODES)}, not {mode!r}")
    return noun_phrase(query) if mode == "noun phrase" else " ".join(query.split())


SAM3_CACHE_IMAGES = 2  # images whose vision features are kept per model (a feature pyramid, far larger than SAM's)


class Sam3Runner:
    """One SAM 3 model and processor, with the per-image cache of vision features."""

    def __init__(self, model, processor, cache: FeatureCache | None = None, model_id: str = "sam3"):
        self.model = model
        self.processor = processor
        self.cache = cache if cache is not None else FeatureCache(SAM3_CACHE_IMAGES)
        self.model_id = model_id

    def _param(self) -> torch.Tensor:
        return next(self.model.parameters())

    @torch.inference_mode()
    def vision_features(self, image):
        """The image encoder's output for a PIL image, computed once per image content, device and dtype."""
        param = self._param()
        rgb = image.convert("RGB")
        key = image_key(np.asarray(rgb), f"{self.model_id}|{param.device}|{param.dtype}")

        def encode():
            inputs = self.processor(images=rgb, return_tensors="pt")
            return self.model.get_vision_features(
                pixel_values=inputs["pixel_values"].to(param.device, param.dtype))

        return self.cache.get_or_compute(key, encode)

    def _prompt(self, phrase: str, size: tuple[int, int], box) -> dict:
        """Tokens of the phrase, plus the box (pixels, x0 y0 x1 y1) as a positive box prompt."""
        kwargs = {"text": phrase, "return_tensors": "pt"}
        if box is not None:
            kwargs.update(input_boxes=[[[float(v) for v in box]]], input_boxes_labels=[[1]],
                          original_sizes=[list(size)])
        inputs = self.processor(**kwargs)
        param = self._param()
        prompt = {"input_ids": inputs["input_ids"].to(param.device),
                  "attention_mask": inputs["attention_mask"].to(param.device)}
        if box is not None:
            prompt["input_boxes"] = inputs["input_boxes"].to(param.device, param.dtype)
            prompt["input_boxes_labels"] = inputs["input_boxes_labels"].to(param.device)
        return prompt

    @torch.inference_mode()
    def segment(self, image, phrase: str, threshold: float = DEFAULT_THRESHOLD, mask_threshold: float = 0.5,
                box=None) -> Sam3Result:
        """Every instance of ``phrase`` scoring above ``threshold``; ``box`` (pixels) adds a box prompt."""
        size = (image.height, image.width)
        outputs = self.model(vision_embeds=self.vision_features(image), **self._prompt(phrase, size, box))
        scores = outputs.pred_logits.float().sigmoid()
        if outputs.presence_logits is not None:
            scores = scores * outputs.presence_logits.float().sigmoid()
        best = float(scores.max()) if scores.numel() else 0.0
        outputs.pred_logits, outputs.pred_masks = outputs.pred_logits.float(), outputs.pred_masks.float()
        outputs.pred_boxes = outputs.pred_boxes.float()
        if outputs.presence_logits is not None:
            outputs.presence_logits = outputs.presence_logits.float()
        found = self.processor.post_process_instance_segmentation(
            outputs, threshold=threshold, mask_threshold=mask_threshold, target_sizes=[size])[0]
        order = torch.argsort(found["scores"], descending=True)
        masks = found["masks"][order].float().cpu().reshape(-1, *size)
        return Sam3Result(masks, found["scores"][order].cpu(), found["boxes"][order].cpu(), phrase, best)
