"""segment-anything (SAM) models built from their weights: the architecture is read off the tensor shapes.

segment-anything's registry builds only the three fixed ViT sizes; reading the hyper-parameters from the
state dict instead loads the official ViT-H/L/B files and LISA's embedded SAM alike, and any smaller
model in the same key layout (a test model) through exactly the same code path.
"""

import logging
import os
import re
from dataclasses import dataclass
from functools import partial

import torch

from .sam_hf_layout import from_transformers_layout, is_transformers_layout

log = logging.getLogger(__name__)

PIXEL_MEAN = (123.675, 116.28, 103.53)  # ImageNet mean/std on 0..255 values, as SAM was trained
PIXEL_STD = (58.395, 57.12, 57.375)
MASK_DECODER_HEADS = 8  # not visible in the shapes; every released SAM uses 8

# official checkpoint file name -> (variant, download URL)
OFFICIAL_FILES = {
    "sam_vit_h_4b8939.pth": ("vit_h", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth"),
    "sam_vit_l_0b3195.pth": ("vit_l", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth"),
    "sam_vit_b_01ec64.pth": ("vit_b", "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth"),
}
# single safetensors files on Hugging Face (what ComfyUI's missing-models dialog can download) -> URL
HUB_FILES = {
    "sam_vit_b_01ec64.safetensors": "https://huggingface.co/lmz/candle-sam/resolve/main/sam_vit_b_01ec64.safetensors",
}
_VARIANTS = {(1280, 32): "vit_h", (1024, 24): "vit_l", (768, 12): "vit_b"}


@dataclass(frozen=True)
class SamSpec:
    """Everything segment-anything's constructors need, as found in a state dict."""

    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]
    window_size: int
    patch_size: int
    image_size: int
    mlp_ratio: float
    prompt_dim: int
    mask_in_chans: int
    decoder_depth: int
    decoder_mlp_dim: int
    iou_head_depth: int
    iou_head_hidden_dim: int
    num_multimask_outputs: int

    @property
    def variant(self) -> str:
        return _VARIANTS.get((self.embed_dim, self.depth), f"custom-{self.embed_dim}x{self.depth}")

    @property
    def embedding_size(self) -> int:
        return self.image_size // self.patch_size


def _count(state: dict, pattern: str) -> int:
    regex = re.compile(pattern)
    indices = {int(m.group(1)) for k in state if (m := regex.match(k))}
    return max(indices) + 1 if indices else 0


def spec_from_state_dict(state: dict) -> SamSpec:
    """Read a SamSpec off the keys and shapes of a SAM state dict (keys 'image_encoder.*', ...)."""
    try:
        patch = state["image_encoder.patch_embed.proj.weight"]
        embed_dim, patch_size = patch.shape[0], patch.shape[-1]
        grid = state["image_encoder.pos_embed"].shape[1]
        depth = _count(state, r"image_encoder\.blocks\.(\d+)\.")
        head_dim = state["image_encoder.blocks.0.attn.rel_pos_h"].shape[1]
        rel_sizes = [state[f"image_encoder.blocks.{i}.attn.rel_pos_h"].shape[0] for i in range(depth)]
        global_blocks = tuple(i for i, size in enumerate(rel_sizes) if size == 2 * grid - 1)
        window_sizes = {(size + 1) // 2 for size in rel_sizes if size != 2 * grid - 1}
        prompt_dim = state["image_encoder.neck.0.weight"].shape[0]
        iou_layers = _count(state, r"mask_decoder\.iou_prediction_head\.layers\.(\d+)\.")
        return SamSpec(
            embed_dim=embed_dim, depth=depth, num_heads=embed_dim // head_dim,
            global_attn_indexes=global_blocks, window_size=window_sizes.pop() if window_sizes else 0,
            patch_size=patch_size, image_size=grid * patch_size,
            mlp_ratio=state["image_encoder.blocks.0.mlp.lin1.weight"].shape[0] / embed_dim,
            prompt_dim=prompt_dim,
            mask_in_chans=state["prompt_encoder.mask_downscaling.3.weight"].shape[0],
            decoder_depth=_count(state, r"mask_decoder\.transformer\.layers\.(\d+)\."),
            decoder_mlp_dim=state["mask_decoder.transformer.layers.0.mlp.lin1.weight"].shape[0],
            iou_head_depth=iou_layers,
            iou_head_hidden_dim=state["mask_decoder.iou_prediction_head.layers.0.weight"].shape[0],
            num_multimask_outputs=state["mask_decoder.mask_tokens.weight"].shape[0] - 1,
        )
    except (KeyError, IndexError) as error:
        raise ValueError(f"not a segment-anything state dict (missing or odd tensor {error}); expected the "
                         "official layout (image_encoder.*, prompt_encoder.*, mask_decoder.*) or transformers' "
                         "SamModel layout (vision_encoder.*, as facebook/sam-vit-* on Hugging Face)") from error


def build_sam(spec: SamSpec):
    """An empty segment-anything ``Sam`` with the given shape (float32, eval mode)."""
    from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer

    grid = spec.embedding_size
    sam = Sam(
        image_encoder=ImageEncoderViT(
            img_size=spec.image_size, patch_size=spec.patch_size, embed_dim=spec.embed_dim, depth=spec.depth,
            num_heads=spec.num_heads, mlp_ratio=spec.mlp_ratio, out_chans=spec.prompt_dim, qkv_bias=True,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6), use_rel_pos=True,
            window_size=spec.window_size, global_attn_indexes=spec.global_attn_indexes),
        prompt_encoder=PromptEncoder(
            embed_dim=spec.prompt_dim, image_embedding_size=(grid, grid),
            input_image_size=(spec.image_size, spec.image_size), mask_in_chans=spec.mask_in_chans),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=spec.num_multimask_outputs,
            transformer=TwoWayTransformer(depth=spec.decoder_depth, embedding_dim=spec.prompt_dim,
                                          mlp_dim=spec.decoder_mlp_dim, num_heads=MASK_DECODER_HEADS),
            transformer_dim=spec.prompt_dim, iou_head_depth=spec.iou_head_depth,
            iou_head_hidden_dim=spec.iou_head_hidden_dim),
        pixel_mean=list(PIXEL_MEAN), pixel_std=list(PIXEL_STD),
    )
    return sam.eval()


def sam_from_state_dict(state: dict, dtype=torch.float32):
    """Build and strictly load a SAM from its state dict (official key names). The prompt encoder stays in
    float32 whatever ``dtype`` is: segment-anything mixes float32 constants into its coordinate encoding."""
    spec = spec_from_state_dict(state)
    sam = build_sam(spec)
    sam.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    sam.image_encoder.to(dtype)
    sam.mask_decoder.to(dtype)
    return sam.eval(), spec


def read_weights(path: str) -> dict:
    """A .safetensors file, or a torch pickle read with weights_only=True (no code runs on load), in
    segment-anything's key layout (transformers' SamModel layout is renamed to it)."""
    state = _read_file(path)
    return from_transformers_layout(state) if is_transformers_layout(state) else state


def _read_file(path: str) -> dict:
    if path.endswith((".safetensors", ".sft")):
        from safetensors.torch import load_file

        return load_file(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # the unpickler's refusal: say what to do about it
        raise ValueError(f"{os.path.basename(path)} cannot be read safely ({error}); use the official .pth "
                         "or a .safetensors file") from error
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # some re-saves wrap the weights
    if not isinstance(state, dict):
        raise ValueError(f"{os.path.basename(path)} holds a {type(state).__name__}, not a state dict")
    return state


def load_sam_file(path: str, dtype=torch.float32):
    """(Sam, SamSpec) from a checkpoint file; the size (ViT-H/L/B or other) is read from its weights."""
    sam, spec = sam_from_state_dict(read_weights(path), dtype)
    log.info("SAM %s: %s, %d px input", os.path.basename(path), spec.variant, spec.image_size)
    return sam, spec
