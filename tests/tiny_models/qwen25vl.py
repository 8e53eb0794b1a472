"""A tiny Qwen2.5-VL in the Hugging Face folder layout (random weights, ComfyUI's Qwen2.5 tokenizer).

Written under the folder name the example workflows use (Qwen2.5-VL-3B-Instruct), so they run as shipped.
"""

import json
import shutil
from pathlib import Path

import torch

from . import atomic_path

NAME = "Qwen2.5-VL-3B-Instruct"
SEED = 2525
HIDDEN = 64

# Qwen2-VL style chat template (image parts become <|vision_start|><|image_pad|><|vision_end|>)
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content %}{% set image_count.value = image_count.value + 1 %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tokenizer_dir() -> Path:
    from harness import host

    return host.comfy_dir() / "comfy" / "text_encoders" / "qwen25_tokenizer"


def config() -> dict:
    text = {"hidden_size": HIDDEN, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2, "vocab_size": 151936, "max_position_embeddings": 4096,
            "rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "hidden_act": "silu", "tie_word_embeddings": True,
            "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
            "bos_token_id": 151643, "eos_token_id": 151645}
    vision = {"depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2, "out_hidden_size": HIDDEN,
              "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
              "fullatt_block_indexes": [1], "in_channels": 3, "hidden_act": "silu"}
    return {"architectures": ["Qwen2_5_VLForConditionalGeneration"], "model_type": "qwen2_5_vl",
            **text, "text_config": {**text, "model_type": "qwen2_5_vl_text"}, "vision_config": vision,
            "image_token_id": 151655, "video_token_id": 151656, "vision_start_token_id": 151652,
            "vision_end_token_id": 151653, "torch_dtype": "float32"}


def preprocessor() -> dict:
    return {"image_processor_type": "Qwen2VLImageProcessor", "processor_class": "Qwen2_5_VLProcessor",
            "do_resize": True, "do_rescale": True, "do_normalize": True, "do_convert_rgb": True,
            "min_pixels": 3136, "max_pixels": 50176, "patch_size": 14, "temporal_patch_size": 2,
            "merge_size": 2, "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_std": [0.26862954, 0.26130258, 0.27577711], "rescale_factor": 1 / 255}


def write(folder: Path) -> None:
    from transformers import AutoConfig, AutoModelForImageTextToText

    with atomic_path(folder) as tmp:
        tmp.mkdir()
        for item in tokenizer_dir().iterdir():
            shutil.copy(item, tmp / item.name)
        (tmp / "config.json").write_text(json.dumps(config(), indent=2))
        (tmp / "preprocessor_config.json").write_text(json.dumps(preprocessor(), indent=2))
        (tmp / "chat_template.json").write_text(json.dumps({"chat_template": CHAT_TEMPLATE}))
        (tmp / "generation_config.json").write_text(json.dumps(
            {"bos_token_id": 151643, "eos_token_id": [151645, 151643], "pad_token_id": 151643}))
        torch.manual_seed(SEED)
        model = AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(str(tmp)))
        with torch.no_grad():  # the default init is std 0.02 everywhere; 0.05 gives livelier random text
            for param in model.parameters():
                if param.dim() > 1:
                    param.normal_(0.0, 0.05)
        model.save_pretrained(str(tmp), safe_serialization=True)
        (tmp / "config.json").write_text(json.dumps(config(), indent=2))  # keep the portable config


def build(models_dir: Path, name: str = NAME) -> str:
    folder = Path(models_dir) / "LLM" / name
    if not (folder / "config.json").is_file():
        write(folder)
    return name
