"""A tiny VipLlava (CLIP tower read at two layers, Llama language model) in the Hugging Face folder layout:
a family the pack names nowhere, so it can only load through the generic image-text-to-text path."""

from pathlib import Path

from ._vlm import TEXT, build_once, chat_template, tokenizer, write_folder

NAME = "vip-llava-tiny-hf"
SEED = 3535
TEMPLATE = chat_template({"system": ("", "\n"), "user": ("USER: ", " "), "assistant": ("ASSISTANT:", "</s>")},
                         "<image>\n")


def write(folder: Path) -> None:
    from transformers import CLIPImageProcessor, LlavaProcessor, VipLlavaConfig

    tok = tokenizer("llama", {"image_token": "<image>"})
    config = VipLlavaConfig(
        vision_config=dict(model_type="clip_vision_model", hidden_size=64, intermediate_size=128,
                           num_hidden_layers=2, num_attention_heads=2, image_size=56, patch_size=14),
        text_config=dict(TEXT, model_type="llama", vocab_size=len(tok)),
        image_token_index=tok.convert_tokens_to_ids("<image>"), vision_feature_layers=[-2, -1])
    images = CLIPImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56})
    processor = LlavaProcessor(image_processor=images, tokenizer=tok, patch_size=14, num_additional_image_tokens=1,
                               vision_feature_select_strategy="default", chat_template=TEMPLATE)
    write_folder(folder, config, processor, [tok.eos_token_id], SEED)


def build(models_dir: Path, name: str = NAME) -> str:
    return build_once(models_dir, name, write)
