"""A tiny SD1.5-layout checkpoint that core CheckpointLoaderSimple loads.

The UNet keeps what ComfyUI's SD15 detection requires (model_channels 320, context 768, conv attention
projections) but has a single level with one res block, so a 64x64 KSampler step takes well under a
second on CPU. ComfyUI builds the CLIP-L text encoder and the VAE with fixed sizes, so those are full
size (random weights, fp16): ~400 MB, written once and cached.
"""

from pathlib import Path

import torch
from safetensors.torch import save_file

from . import atomic_path
from ._comfy_import import ensure_comfy_importable
from ._weights import fill_state_dict, meta_shapes

NAME = "v1-5-pruned-emaonly.safetensors"
SEED = 1515


def unet_shapes(in_channels: int = 4) -> dict:
    ensure_comfy_importable()
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    with torch.device("meta"):
        unet = UNetModel(image_size=32, in_channels=in_channels, model_channels=320, out_channels=4,
                         num_res_blocks=[1], channel_mult=(1,), transformer_depth=[1],
                         transformer_depth_output=[1, 1], transformer_depth_middle=1, num_heads=8, use_spatial_transformer=True,
                         context_dim=768, use_linear_in_transformer=False, legacy=False,
                         operations=comfy.ops.disable_weight_init)
    return meta_shapes(unet, "model.diffusion_model.")


def vae_shapes() -> dict:
    ensure_comfy_importable()
    from comfy.ldm.models.autoencoder import AutoencoderKL

    ddconfig = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3,
                "ch": 128, "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [],
                "dropout": 0.0}
    with torch.device("meta"):
        vae = AutoencoderKL(ddconfig=ddconfig, embed_dim=4)
    return meta_shapes(vae, "first_stage_model.")


def clip_l_shapes(prefix: str = "cond_stage_model.transformer.") -> dict:
    from transformers import CLIPTextConfig, CLIPTextModel

    config = CLIPTextConfig(vocab_size=49408, hidden_size=768, intermediate_size=3072,
                            num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
                            hidden_act="quick_gelu", projection_dim=768)
    with torch.device("meta"):
        model = CLIPTextModel(config)
    return {k: v for k, v in meta_shapes(model, prefix).items() if not k.endswith("position_ids")}


def write_checkpoint(path: Path, unet_in_channels: int = 4, seed: int = SEED) -> None:
    shapes = {**unet_shapes(unet_in_channels), **vae_shapes(), **clip_l_shapes()}
    state = fill_state_dict(shapes, seed)
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))


def build(models_dir: Path, name: str = NAME, unet_in_channels: int = 4) -> str:
    """unet_in_channels=9 gives the SD1.5-inpainting layout (latent + mask + masked-image latent)."""
    path = Path(models_dir) / "checkpoints" / name
    if not path.is_file():
        write_checkpoint(path, unet_in_channels)
    return name
