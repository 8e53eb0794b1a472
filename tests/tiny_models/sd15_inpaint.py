"""A tiny SD1.5-inpainting checkpoint: the SD1.5 layout of tiny_models.sd15 with a 9-channel UNet input
(latent + mask + masked-image latent), which is how ComfyUI recognises an inpainting model."""

from pathlib import Path

from . import sd15

NAME = "sd-v1-5-inpainting.safetensors"


def build(models_dir: Path, name: str = NAME) -> str:
    return sd15.build(models_dir, name=name, unet_in_channels=9)
