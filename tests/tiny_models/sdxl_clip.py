"""A tiny SDXL-layout text encoder pair (clip_l + clip_g) in the real key layout, random weights.

ComfyUI builds SDXL's encoders from fixed configs (clip_g is 1280 wide, 32 layers: ~1.4 GB in fp16), so
a full-size pair is too big for tests. The files here are small and ``load`` builds the CLIP the way
``comfy.sd.load_text_encoder_state_dicts`` does for DualCLIPLoader type "sdxl" (``comfy.sd.CLIP`` with
``SDXLClipModel`` + ``SDXLTokenizer``, then ``clip.load_sd`` per file, which routes each file to l or g
by ComfyUI's own rule), shrinking the configs through ``model_options``
(``clip_l_model_config`` / ``clip_g_model_config``, read by ``comfy.sd1_clip.SDClipModel``).
``load_clip`` itself cannot be used: it resets those per-encoder configs from the files' position
embeddings. clip_g keeps 32 layers because ComfyUI tells the files apart by
``text_model.encoder.layers.30.*``; 48-wide layers keep it ~6 MB. The tokenizers are ComfyUI's real
ones. The loader nodes cannot shrink the configs, so workflows cannot use these files: tests call
``load``.
"""

from pathlib import Path

import torch
from safetensors.torch import save_file

from . import atomic_path
from ._weights import fill_state_dict, meta_shapes

SEED = 2024
CLIP_L_NAME, CLIP_G_NAME = "tiny_sdxl_clip_l.safetensors", "tiny_sdxl_clip_g.safetensors"
CLIP_L_CONFIG = {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2,
                 "num_hidden_layers": 3, "projection_dim": 32}
CLIP_G_CONFIG = {"hidden_size": 48, "intermediate_size": 96, "num_attention_heads": 2,
                 "num_hidden_layers": 32, "projection_dim": 48}
MODEL_OPTIONS = {"clip_l_model_config": CLIP_L_CONFIG, "clip_g_model_config": CLIP_G_CONFIG}


def text_encoder_shapes(config: dict, hidden_act: str) -> dict:
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    full = CLIPTextConfig(vocab_size=49408, max_position_embeddings=77, hidden_act=hidden_act, **config)
    with torch.device("meta"):
        model = CLIPTextModelWithProjection(full)
    return {k: v for k, v in meta_shapes(model).items() if not k.endswith("position_ids")}


def build(models_dir: Path) -> tuple[str, str]:
    """Writes clip/<l>, clip/<g> once; returns their names (clip_l first)."""
    folder = Path(models_dir) / "clip"
    for name, config, act in ((CLIP_L_NAME, CLIP_L_CONFIG, "quick_gelu"), (CLIP_G_NAME, CLIP_G_CONFIG, "gelu")):
        path = folder / name
        if not path.is_file():
            state = fill_state_dict(text_encoder_shapes(config, act), SEED + len(name))
            with atomic_path(path) as tmp:
                save_file(state, str(tmp))
    return CLIP_L_NAME, CLIP_G_NAME


def load(models_dir: Path, family: str = "sdxl"):
    """The CLIP object for the pair: ``family`` "sdxl" (SDXLClipModel) or "sd3" (SD3's text encoder
    with clip_l + clip_g and no T5, which has a T5 token stream and no 77-token windows for it)."""
    import comfy.sd
    import comfy.sdxl_clip
    import comfy.text_encoders.sd3_clip
    import comfy.utils

    class Target:
        params: dict = {}

    target = Target()
    if family == "sdxl":
        target.clip, target.tokenizer = comfy.sdxl_clip.SDXLClipModel, comfy.sdxl_clip.SDXLTokenizer
    else:
        target.clip = comfy.text_encoders.sd3_clip.sd3_clip(clip_l=True, clip_g=True, t5=False)
        target.tokenizer = comfy.text_encoders.sd3_clip.SD3Tokenizer
    states = [comfy.utils.load_torch_file(str(Path(models_dir) / "clip" / name)) for name in build(models_dir)]
    clip = comfy.sd.CLIP(target, model_options=MODEL_OPTIONS,
                         parameters=sum(comfy.utils.calculate_parameters(sd) for sd in states))
    for state in states:
        missing, unexpected = clip.load_sd(state)
        if missing or unexpected:
            raise RuntimeError(f"tiny SDXL CLIP does not match its layout: missing {missing}, unexpected {unexpected}")
    return clip
