"""SAM weights published in transformers' SamModel layout (facebook/sam-vit-*/model.safetensors), renamed to
segment-anything's layout, which the pack builds and loads.

The two layouts hold the same tensors with the same shapes; only names differ (facts read off both
implementations): ``vision_encoder.layers.N`` is ``image_encoder.blocks.N``, the prompt encoder's
``mask_embed.conv1/layer_norm1/conv2/layer_norm2/conv3`` are ``mask_downscaling.0/1/3/4/6``, the decoder's
MLPs name their first and last linear ``proj_in``/``proj_out`` (segment-anything numbers them all
``layers.K``), and the random Fourier matrix of the positional encoding is
``shared_image_embedding.positional_embedding`` (``prompt_encoder.pe_layer.positional_encoding_gaussian_matrix``).
"""

import re

import torch

# (pattern, replacement), applied in order to every key that is not an MLP layer (those are renumbered).
_RENAMES = (
    (r"^vision_encoder\.", "image_encoder."),
    (r"^image_encoder\.patch_embed\.projection\.", "image_encoder.patch_embed.proj."),
    (r"^image_encoder\.layers\.(\d+)\.layer_norm(\d)\.", r"image_encoder.blocks.\1.norm\2."),
    (r"^image_encoder\.layers\.(\d+)\.", r"image_encoder.blocks.\1."),
    (r"^image_encoder\.neck\.conv1\.", "image_encoder.neck.0."),
    (r"^image_encoder\.neck\.layer_norm1\.", "image_encoder.neck.1."),
    (r"^image_encoder\.neck\.conv2\.", "image_encoder.neck.2."),
    (r"^image_encoder\.neck\.layer_norm2\.", "image_encoder.neck.3."),
    (r"^prompt_encoder\.mask_embed\.conv1\.", "prompt_encoder.mask_downscaling.0."),
    (r"^prompt_encoder\.mask_embed\.layer_norm1\.", "prompt_encoder.mask_downscaling.1."),
    (r"^prompt_encoder\.mask_embed\.conv2\.", "prompt_encoder.mask_downscaling.3."),
    (r"^prompt_encoder\.mask_embed\.layer_norm2\.", "prompt_encoder.mask_downscaling.4."),
    (r"^prompt_encoder\.mask_embed\.conv3\.", "prompt_encoder.mask_downscaling.6."),
    (r"^prompt_encoder\.point_embed\.", "prompt_encoder.point_embeddings."),
    (r"^shared_image_embedding\.positional_embedding$", "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix"),
    (r"^mask_decoder\.upscale_conv1\.", "mask_decoder.output_upscaling.0."),
    (r"^mask_decoder\.upscale_layer_norm\.", "mask_decoder.output_upscaling.1."),
    (r"^mask_decoder\.upscale_conv2\.", "mask_decoder.output_upscaling.3."),
    (r"^mask_decoder\.transformer\.layers\.(\d+)\.layer_norm(\d)\.", r"mask_decoder.transformer.layers.\1.norm\2."),
    (r"^mask_decoder\.transformer\.layer_norm_final_attn\.", "mask_decoder.transformer.norm_final_attn."),
)
_MLP = re.compile(r"^(mask_decoder\.(?:iou_prediction_head|output_hypernetworks_mlps\.\d+))"
                  r"\.(proj_in|layers\.(\d+)|proj_out)\.(.+)$")
_PREFIXES = ("sam.", "model.")  # a SamModel saved inside a wrapper
_DUPLICATE = "prompt_encoder.shared_embedding.positional_embedding"  # tied to shared_image_embedding


def _unprefixed(key: str) -> str:
    return next((key[len(p):] for p in _PREFIXES if key.startswith(p)), key)


def is_transformers_layout(state: dict) -> bool:
    """transformers' SamModel keys, bare or under one of the wrapper prefixes from_transformers_layout strips
    (a key under any other prefix would be detected and then not renamed)."""
    return any(_unprefixed(key).startswith("vision_encoder.") for key in state)


def _mlp_sizes(state: dict) -> dict[str, int]:
    """Hidden layers per decoder MLP (segment-anything's layer count is that + 2)."""
    sizes: dict[str, int] = {}
    for key in state:
        match = _MLP.match(key)
        if match:
            sizes.setdefault(match.group(1), 0)
            if match.group(3) is not None:
                sizes[match.group(1)] = max(sizes[match.group(1)], int(match.group(3)) + 1)
    return sizes


def from_transformers_layout(state: dict) -> dict[str, torch.Tensor]:
    """A transformers SamModel state dict with segment-anything's key names (tensors shared, not copied)."""
    for prefix in _PREFIXES:
        if not any(k.startswith("vision_encoder.") for k in state) and any(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if "shared_image_embedding.positional_embedding" not in state and _DUPLICATE in state:
        state = {**state, "shared_image_embedding.positional_embedding": state[_DUPLICATE]}
    sizes = _mlp_sizes(state)
    out = {}
    for key, value in state.items():
        if key == _DUPLICATE:
            continue
        match = _MLP.match(key)
        if match:
            head, part, index, rest = match.groups()
            position = 0 if part == "proj_in" else sizes[head] + 1 if part == "proj_out" else int(index) + 1
            out[f"{head}.layers.{position}.{rest}"] = value
            continue
        for pattern, replacement in _RENAMES:
            key = re.sub(pattern, replacement, key)
        out[key] = value
    return out
