"""A tiny segment-anything SAM in the official checkpoint layout (.pth state dict, official key names).

Same structure as the released ViT models (1024 px input, 16 px patches, windowed + global attention
with relative positions, the standard prompt encoder and two-way mask decoder) with small widths, so the
loader's shape-based detection reads it exactly as it reads ViT-H/L/B files.
"""

from pathlib import Path

import torch

from . import atomic_path
from ._weights import fill_state_dict, meta_shapes

NAME = "sam_vit_h_4b8939.pth"
SEED = 4242
TINY_SPEC = dict(embed_dim=32, depth=2, num_heads=2, global_attn_indexes=(1,), window_size=8, patch_size=16,
                 image_size=1024, mlp_ratio=2.0, prompt_dim=32, mask_in_chans=8, decoder_depth=2,
                 decoder_mlp_dim=64, iou_head_depth=3, iou_head_hidden_dim=32, num_multimask_outputs=3)


def tiny_spec(**overrides):
    from genassist.segmentation.sam_model import SamSpec

    return SamSpec(**{**TINY_SPEC, **overrides})


def state_dict(seed: int = SEED, **overrides) -> dict[str, torch.Tensor]:
    """Deterministic random weights (float32, as the official files) in SAM's key layout."""
    from genassist.segmentation.sam_model import build_sam

    with torch.device("meta"):
        sam = build_sam(tiny_spec(**overrides))
    return fill_state_dict(meta_shapes(sam), seed, std=0.2, dtype=torch.float32)


def build(models_dir: Path, name: str = NAME, seed: int = SEED) -> str:
    path = Path(models_dir) / "sams" / name
    if not path.is_file():
        with atomic_path(path) as tmp:
            if name.endswith(".safetensors"):
                from safetensors.torch import save_file

                save_file(state_dict(seed), str(tmp))
            else:
                torch.save(state_dict(seed), str(tmp))
    return name
