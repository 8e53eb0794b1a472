"""Real-shape, random-weight models for bench/memory_pressure.py (or small ones for its CPU dry run):
a LLaVA-1.5-7B-shaped MLLM, a LISA-7B-shaped segmenter and SD1.5 / SD1.5-inpainting checkpoints."""

from pathlib import Path

import torch

SD15_UNET = {"use_checkpoint": False, "image_size": 32, "out_channels": 4, "use_spatial_transformer": True,
             "legacy": False, "adm_in_channels": None, "model_channels": 320, "num_res_blocks": [2, 2, 2, 2],
             "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "channel_mult": [1, 2, 4, 4],
             "transformer_depth_middle": 1, "use_linear_in_transformer": False, "context_dim": 768, "num_heads": 8,
             "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]}  # ComfyUI's SD15 detection


def write_sd15(path: Path, in_channels: int, tiny: bool) -> None:
    """An SD1.5 checkpoint in the original layout: full-size UNet (or the test's one-level UNet), VAE, CLIP-L."""
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel
    from safetensors.torch import save_file

    from tiny_models import sd15
    from tiny_models._weights import fill_state_dict, meta_shapes

    if tiny:
        shapes = sd15.unet_shapes(in_channels)
    else:
        with torch.device("meta"):
            unet = UNetModel(**SD15_UNET, in_channels=in_channels, operations=comfy.ops.disable_weight_init)
        shapes = meta_shapes(unet, "model.diffusion_model.")
    state = fill_state_dict({**shapes, **sd15.vae_shapes(), **sd15.clip_l_shapes()}, seed=in_channels)
    save_file(state, str(path))


def build_llava(tokenizer, device, dtype, tiny: bool, image_size: int, with_mlp: bool):
    """LLaMA-7B (or a small one) + CLIP-L/14 vision tower + projector, random weights, built on ``device``
    and returned on the CPU (where ComfyUI keeps models it manages until they are needed)."""
    from segment import llava_parts  # bench/segment.py

    from genassist.mllm.legacy_llava import LegacyLlava, LegacyLlavaSpec

    lm, projector, vision, hidden, vision_hidden = llava_parts(len(tokenizer), device, dtype, tiny, image_size,
                                                               with_mlp, max_positions=4096)
    lm.generation_config.eos_token_id = None  # random weights: decode exactly the token budget
    spec = LegacyLlavaSpec(name=f"LLaVA-7B-shaped-{image_size}", backbone="llama", backbone_config={},
                           hidden_size=hidden, mm_hidden_size=vision_hidden,
                           vision_tower=f"openai/clip-vit-large-patch14{'-336' if image_size == 336 else ''}",
                           projector_type="mlp2x_gelu" if with_mlp else "linear", use_im_start_end=not with_mlp,
                           image_mode="crop" if not with_mlp else "stretch", template="llava_v1")
    return LegacyLlava(spec, lm, projector, vision).to("cpu")


def build_models(work: Path, device, dtype, tiny: bool, pipelines) -> dict:
    from segment import official_sam  # bench/segment.py

    import genassist.segmentation.lisa as lisa_lib
    from genassist.mllm.legacy_backend import LegacyLlavaBackend
    from genassist.segmentation.lisa_tokenizer import load_lisa_tokenizer
    from tiny_models import lisa as tiny_lisa

    tiny_lisa.write_tokenizer(work / "tokenizer")
    tokenizer = load_lisa_tokenizer(str(work / "tokenizer"))  # LLaMA's 32000 pieces + [SEG], <im_start/end>
    models = {}
    if {"refine_sample", "canvas"} & set(pipelines):
        llava = build_llava(tokenizer, device, dtype, tiny, image_size=336, with_mlp=True)
        models["mllm_backend"] = LegacyLlavaBackend(llava, tokenizer)
    if "lisa_inpaint" in pipelines:
        llava = build_llava(tokenizer, device, dtype, tiny, image_size=224, with_mlp=False)
        sam, spec = official_sam("vit_b" if tiny else "vit_h", device, dtype)
        fcs = lisa_lib.text_hidden_fcs(llava.spec.hidden_size).to(dtype)
        lisa = lisa_lib.LisaModel(llava, sam.to("cpu"), fcs, tokenizer, "LISA-7B-shaped", spec).eval()
        lisa_lib.eos_ids = lambda *args, **kwargs: []  # decode exactly the token budget ...
        plain = lisa.generate_ids
        lisa.generate_ids = lambda *args, **kwargs: plain(*args, **kwargs) + [lisa.seg_id]  # ... then [SEG]
        models["lisa"] = lisa
    for name, channels in (("sd15", 4), ("sd15_inpaint", 9)):
        (work / "checkpoints").mkdir(exist_ok=True)
        write_sd15(work / "checkpoints" / f"{name}.safetensors", channels, tiny)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return models
