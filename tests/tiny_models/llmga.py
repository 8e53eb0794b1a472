"""A tiny LLMGA MLLM in the original legacy-LLaVA layout (random weights, real tokenizer).

Keys as LLMGA's released checkpoints store them: the Llama backbone (model.embed_tokens, model.layers,
model.norm, lm_head), model.mm_projector.{0,2} (mlp2x_gelu) and the CLIP-336 tower under
model.vision_tower.vision_tower.vision_model.*; config.json with model_type llava_llama and mm_* keys.
The tokenizer is ComfyUI's bundled Llama-3 tokenizer, so the folder name carries 'llama3' and LLMGA's
name rule picks the llama_3 template, as for binxia/llmga-llama3-8b-it-full-finetune.
"""

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from . import atomic_path
from ._weights import fill_state_dict, meta_shapes

NAME = "llmga-llama3-8b-it-tiny"
SEED = 777
HIDDEN, VISION_HIDDEN = 64, 128


def tokenizer_dir() -> Path:
    from harness import host

    return host.comfy_dir() / "comfy" / "text_encoders" / "llama_tokenizer"


def llama_config(vocab_size: int) -> dict:
    return {"hidden_size": HIDDEN, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "vocab_size": vocab_size, "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "hidden_act": "silu", "bos_token_id": 128000,
            "eos_token_id": 128009, "tie_word_embeddings": False}


def shapes(vocab_size: int) -> dict:
    from transformers import CLIPVisionConfig, CLIPVisionModel, LlamaConfig, LlamaForCausalLM

    with torch.device("meta"):
        lm = LlamaForCausalLM(LlamaConfig(**llama_config(vocab_size)))
        vision = CLIPVisionModel(CLIPVisionConfig(hidden_size=VISION_HIDDEN, intermediate_size=256,
                                                  num_hidden_layers=3, num_attention_heads=2,
                                                  image_size=336, patch_size=14))
    out = meta_shapes(lm)
    # the 4.x key layout the released checkpoints have, whatever the installed transformers uses
    out.update({"model.vision_tower.vision_tower.vision_model." + k.removeprefix("vision_model."): v
                for k, v in meta_shapes(vision).items() if not k.endswith("position_ids")})
    out.update({"model.mm_projector.0.weight": torch.Size([HIDDEN, VISION_HIDDEN]),
                "model.mm_projector.0.bias": torch.Size([HIDDEN]),
                "model.mm_projector.2.weight": torch.Size([HIDDEN, HIDDEN]),
                "model.mm_projector.2.bias": torch.Size([HIDDEN])})
    return out


def write(folder: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir()))
    vocab_size = len(tokenizer)
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        for item in tokenizer_dir().iterdir():
            shutil.copy(item, tmp / item.name)
        config = {"architectures": ["LlavaLlamaForCausalLM"], "model_type": "llava_llama",
                  **llama_config(vocab_size), "torch_dtype": "float16",
                  "mm_vision_tower": "openai/clip-vit-large-patch14-336", "mm_hidden_size": VISION_HIDDEN,
                  "mm_projector_type": "mlp2x_gelu", "mm_vision_select_layer": -2,
                  "mm_vision_select_feature": "patch", "mm_use_im_start_end": False,
                  "mm_use_im_patch_token": False, "image_aspect_ratio": "resizesquare",
                  "tokenizer_model_max_length": 2048}
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        save_file(fill_state_dict(shapes(vocab_size), SEED, std=0.05), str(tmp / "model.safetensors"),
                  metadata={"format": "pt"})


def build(models_dir: Path, name: str = NAME) -> str:
    folder = Path(models_dir) / "LLM" / name
    if not (folder / "model.safetensors").is_file():
        write(folder)
    return name
