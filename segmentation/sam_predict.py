"""Prompted SAM inference on one image: boxes/points (grounded path) or prompt tokens (LISA's [SEG]).

The image encoder is the expensive part; its output is cached by image content so N prompts on one image
encode it once.
"""

from dataclasses import dataclass, field

import torch

from ..mllm.vision_cache import FeatureCache
from .sam_cache import SAM_CACHE_IMAGES, image_key
from .sam_processing import as_uint8_rgb, postprocess, preprocess, scale_boxes, scale_coords


@dataclass
class ImageEmbedding:
    embedding: torch.Tensor  # [1, C, g, g] on the model's device
    resized_hw: tuple[int, int]
    original_hw: tuple[int, int]


@dataclass
class Prompt:
    """One instance to segment, in original image pixels: an xyxy box and/or positive points."""

    box: tuple[float, float, float, float] | None = None
    points: list[tuple[float, float]] = field(default_factory=list)


class SamPredictor:
    def __init__(self, sam, cache: FeatureCache | None = None, model_id: str = ""):
        self.sam = sam
        self.cache = cache if cache is not None else FeatureCache(SAM_CACHE_IMAGES)
        self.model_id = model_id

    @property
    def device(self) -> torch.device:
        return next(self.sam.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """Compute dtype of the image encoder and mask decoder (the prompt encoder stays float32)."""
        return next(self.sam.mask_decoder.parameters()).dtype

    @property
    def image_size(self) -> int:
        return self.sam.image_encoder.img_size

    def embed(self, image) -> ImageEmbedding:
        pixels = as_uint8_rgb(image)
        key = image_key(pixels, f"{self.model_id}|{self.device}|{self.dtype}")
        return self.cache.get_or_compute(key, lambda: self._encode(pixels))

    def _encode(self, pixels) -> ImageEmbedding:
        tensor, resized_hw = preprocess(pixels, self.image_size)
        with torch.inference_mode():
            embedding = self.sam.image_encoder(tensor.unsqueeze(0).to(self.device, self.dtype))
        return ImageEmbedding(embedding, resized_hw, tuple(pixels.shape[:2]))

    def _decode(self, embedding: ImageEmbedding, sparse: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
        low_res, _ = self.sam.mask_decoder(
            image_embeddings=embedding.embedding.to(self.dtype),
            image_pe=self.sam.prompt_encoder.get_dense_pe().to(self.dtype),
            sparse_prompt_embeddings=sparse.to(self.dtype), dense_prompt_embeddings=dense.to(self.dtype),
            multimask_output=False)
        return postprocess(low_res, embedding.resized_hw, embedding.original_hw, self.image_size).cpu()

    def masks_for_prompts(self, embedding: ImageEmbedding, prompts: list[Prompt]) -> torch.Tensor:
        """Mask logits [N, H, W] (float32, CPU), one single-mask prediction per prompt."""
        height, width = embedding.original_hw
        if not prompts:
            return torch.zeros(0, height, width)
        out = []
        with torch.inference_mode():
            for prompt in prompts:
                boxes = points = None
                if prompt.box is not None:
                    boxes = scale_boxes(torch.tensor([prompt.box]), embedding.original_hw,
                                        embedding.resized_hw).to(self.device)
                if prompt.points:
                    coords = scale_coords(torch.tensor([prompt.points], dtype=torch.float32),
                                          embedding.original_hw, embedding.resized_hw).to(self.device)
                    points = (coords, torch.ones(coords.shape[:2], dtype=torch.int, device=self.device))
                if boxes is None and points is None:
                    raise ValueError("a prompt needs a box or at least one point")
                sparse, dense = self.sam.prompt_encoder(points=points, boxes=boxes, masks=None)
                out.append(self._decode(embedding, sparse, dense))
        return torch.cat(out)

    def masks_for_tokens(self, embedding: ImageEmbedding, tokens: torch.Tensor) -> torch.Tensor:
        """LISA: each row of tokens [N, C] is one sparse prompt token (no points, boxes or mask input).
        Returns mask logits [N, H, W] (float32, CPU)."""
        height, width = embedding.original_hw
        if tokens.shape[0] == 0:
            return torch.zeros(0, height, width)
        with torch.inference_mode():
            _, dense = self.sam.prompt_encoder(points=None, boxes=None, masks=None)
            sparse = tokens.to(self.device, torch.float32).unsqueeze(1)
            return self._decode(embedding, sparse, dense.expand(tokens.shape[0], -1, -1, -1))
