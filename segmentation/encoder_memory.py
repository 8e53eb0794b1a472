"""Rough peak working memory of a segmenter's run, for ComfyUI's ``memory_required`` when it is loaded.

SAM, SAM 3 and LISA's embedded SAM all run a ViT image encoder whose global-attention blocks dominate
the peak: one attention map (heads x tokens x tokens) plus about 16 token-sized buffers. The estimate is
written once here and read off each model's own configuration.
"""

import torch

# LISA writes its answer with a 7B/13B language model before its SAM runs: room for the decode's
# activations and KV cache, per byte of the compute dtype (2 GiB in 16-bit)
LISA_LANGUAGE_BYTES_PER_ELEMENT = 1024**3


def vit_activation_bytes(num_heads: int, tokens: int, hidden_size: int, dtype: torch.dtype) -> int:
    """Peak activations of a ViT encoder with global attention over ``tokens`` patch tokens."""
    size = torch.finfo(dtype).bits // 8
    return num_heads * tokens * tokens * size + 16 * hidden_size * tokens * size


def sam_activation_bytes(spec, dtype: torch.dtype) -> int:
    """A segment-anything image encoder (a ``sam_model.SamSpec``) at its input size (1024 px)."""
    return vit_activation_bytes(spec.num_heads, spec.embedding_size**2, spec.embed_dim, dtype)


def sam3_activation_bytes(config, dtype: torch.dtype) -> int:
    """SAM 3's image encoder, from its transformers config (vision_config.backbone_config)."""
    backbone = config.vision_config.backbone_config
    tokens = (backbone.image_size // backbone.patch_size) ** 2
    return vit_activation_bytes(backbone.num_attention_heads, tokens, backbone.hidden_size, dtype)


def lisa_activation_bytes(sam_spec, dtype: torch.dtype) -> int:
    """LISA decodes with its language model, then runs its SAM: the peak is the larger of the two."""
    language = LISA_LANGUAGE_BYTES_PER_ELEMENT * (torch.finfo(dtype).bits // 8)
    return max(language, sam_activation_bytes(sam_spec, dtype))
