"""A tiny SAM 3 folder in the Hugging Face layout (as facebook/sam3 is released), random weights.

models/sams/<name>/: config.json (model_type sam3, every sub-config shrunk consistently: a 112 px image in
14 px patches -> 8x8 tokens, FPN maps 32/16/8, widths 32, one or two layers, 10 DETR queries; about 1.8 M
parameters), model.safetensors, processor_config.json (a Sam3ImageProcessor sized 112 px) and the CLIP
tokenizer ComfyUI ships for SD1.x (tokenizer.json, tokenizer_config.json). One planted value: the presence
head's last bias is +10, so "is the concept here" is always yes and the scores spread with the detection
logits (std 0.2 weights), some above and some below 0.5.
"""

from pathlib import Path

import torch

from . import atomic_path

NAME = "sam3"
SEED = 3003
WIDTH = 32
IMAGE = 112


def tokenizer_dir() -> Path:
    from harness import host

    return host.comfy_dir() / "comfy" / "sd1_tokenizer"


def tiny_config(num_queries: int = 10):
    from transformers import Sam3Config

    block = dict(hidden_size=WIDTH, num_attention_heads=2, intermediate_size=2 * WIDTH, initializer_range=0.2)
    return Sam3Config(
        vision_config=dict(
            backbone_config=dict(model_type="sam3_vit_model", num_hidden_layers=2, image_size=IMAGE,
                                 patch_size=14, window_size=4, global_attn_indexes=[1],
                                 pretrain_image_size=IMAGE, **block),
            fpn_hidden_size=WIDTH, backbone_feature_sizes=[[32, 32], [16, 16], [8, 8]], initializer_range=0.2),
        text_config=dict(vocab_size=49408, projection_dim=WIDTH, num_hidden_layers=1, max_position_embeddings=32,
                         **block),
        geometry_encoder_config=dict(num_layers=1, **block),
        detr_encoder_config=dict(num_layers=1, **block),
        detr_decoder_config=dict(num_layers=1, num_queries=num_queries, **block),
        mask_decoder_config=dict(hidden_size=WIDTH, num_attention_heads=2, initializer_range=0.2),
        initializer_range=0.2,
    )


def processor():
    from transformers import CLIPTokenizerFast, Sam3ImageProcessor, Sam3Processor

    tokenizer = CLIPTokenizerFast.from_pretrained(str(tokenizer_dir()))
    image_processor = Sam3ImageProcessor(size={"height": IMAGE, "width": IMAGE},
                                         mask_size={"height": 32, "width": 32})
    return Sam3Processor(image_processor=image_processor, tokenizer=tokenizer)


def model(seed: int = SEED):
    from transformers import Sam3Model

    torch.manual_seed(seed)
    sam3 = Sam3Model(tiny_config()).eval()
    with torch.no_grad():
        sam3.detr_decoder.presence_head.layer3.bias.fill_(10.0)
    return sam3


def build(models_dir: Path, name: str = NAME, seed: int = SEED) -> str:
    folder = Path(models_dir) / "sams" / name
    if not (folder / "model.safetensors").is_file():
        with atomic_path(folder) as tmp:
            model(seed).save_pretrained(str(tmp))
            processor().save_pretrained(str(tmp))
    return name
