"""A tiny Mistral 3 (Pixtral tower, patch merger, Mistral language model) in the Hugging Face folder
layout, with ComfyUI's Llama tokenizer plus Mistral's instruction and image tokens."""

from pathlib import Path

from ._vlm import TEXT, build_once, chat_template, tokenizer, write_folder

NAME = "Mistral-Small-3-tiny"
SEED = 3333
TEMPLATE = chat_template({"system": ("[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]"), "user": ("[INST]", "[/INST]"),
                          "assistant": ("", "</s>")}, "[IMG]")


def write(folder: Path) -> None:
    from transformers import Mistral3Config, PixtralImageProcessor, PixtralProcessor

    tok = tokenizer("llama", {"image_token": "[IMG]"},
                    added=("[IMG_BREAK]", "[IMG_END]", "[INST]", "[/INST]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]"))
    config = Mistral3Config(
        vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                           head_dim=32, image_size=64, patch_size=16),
        text_config=dict(TEXT, model_type="mistral", vocab_size=len(tok), sliding_window=None),
        image_token_index=tok.convert_tokens_to_ids("[IMG]"), spatial_merge_size=2, vision_feature_layer=-1,
        tie_word_embeddings=True)
    processor = PixtralProcessor(image_processor=PixtralImageProcessor(size={"longest_edge": 64}, patch_size=16),
                                 tokenizer=tok, patch_size=16, spatial_merge_size=2, chat_template=TEMPLATE)
    write_folder(folder, config, processor, [tok.eos_token_id], SEED)


def build(models_dir: Path, name: str = NAME) -> str:
    return build_once(models_dir, name, write)
