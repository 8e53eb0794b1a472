"""SAM image embeddings cached by image content: many prompts on one image run the encoder once (the LRU is
``mllm.vision_cache.FeatureCache``, keyed here by the image's content hash)."""

import hashlib

import numpy as np

SAM_CACHE_IMAGES = 8  # SAM image embeddings kept per model (256x64x64 floats, 4 MB each at fp32)


def image_key(pixels: np.ndarray, model_id: str = "") -> str:
    """Content hash of an HxWx3 uint8 image (shape included), scoped to one model."""
    digest = hashlib.sha256()
    digest.update(f"{model_id}|{pixels.shape}|".encode())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()
