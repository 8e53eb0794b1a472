"""The segmenters' peak-memory estimates (what ComfyUI is asked to keep free when one is loaded): one ViT
formula read off SAM's spec, SAM 3's config and LISA's embedded SAM."""

from types import SimpleNamespace

import torch

from genassist.segmentation.encoder_memory import (
    lisa_activation_bytes,
    sam3_activation_bytes,
    sam_activation_bytes,
    vit_activation_bytes,
)
from genassist.segmentation.sam_model import spec_from_state_dict

GIB = 1024**3


def vit_h_spec():
    from segment_anything import sam_model_registry

    with torch.device("meta"):
        return spec_from_state_dict(sam_model_registry["vit_h"]().state_dict())


def test_sam_vit_h_at_1024_px():
    # 16 heads x 4096^2 attention + 16 x 1280 x 4096 token buffers, 2 bytes each
    expected = 16 * 4096**2 * 2 + 16 * 1280 * 4096 * 2
    assert sam_activation_bytes(vit_h_spec(), torch.bfloat16) == expected == 704_643_072
    assert sam_activation_bytes(vit_h_spec(), torch.float32) == 2 * expected


def test_sam3_reads_its_backbone_config():
    backbone = SimpleNamespace(image_size=1008, patch_size=14, num_attention_heads=16, hidden_size=1024)
    config = SimpleNamespace(vision_config=SimpleNamespace(backbone_config=backbone))
    tokens = 72 * 72
    assert sam3_activation_bytes(config, torch.float16) == vit_activation_bytes(16, tokens, 1024, torch.float16)
    assert sam3_activation_bytes(config, torch.float16) == 16 * tokens**2 * 2 + 16 * 1024 * tokens * 2


def test_lisa_keeps_2_gib_in_16_bit_and_reserves_room_in_fp32():
    spec = vit_h_spec()
    assert lisa_activation_bytes(spec, torch.bfloat16) == 2 * GIB  # the language model's decode, as before
    # fp32 on a GPU used to reserve nothing; the larger of the decode and the SAM encoder now
    assert lisa_activation_bytes(spec, torch.float32) == 4 * GIB > sam_activation_bytes(spec, torch.float32)
    huge = SimpleNamespace(num_heads=64, embedding_size=128, embed_dim=2048)  # a SAM larger than the decode
    assert lisa_activation_bytes(huge, torch.float16) == sam_activation_bytes(huge, torch.float16) > 2 * GIB
