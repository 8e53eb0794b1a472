"""A tiny InternVL (InternViT-style tower, Qwen2 language model, 4 tokens per 64 px tile) in the Hugging
Face folder layout. Tokenizer: ComfyUI's Qwen2.5 one plus InternVL's image tokens and its grounding tags
``<ref>``/``<box>`` (plain tokens, so an answer keeps them)."""

from pathlib import Path

from ._vlm import CHATML, TEXT, build_once, chat_template, tokenizer, write_folder

NAME = "InternVL3-tiny-hf"
SEED = 3131
TEMPLATE = chat_template(CHATML, "<IMG_CONTEXT>\n")


def write(folder: Path) -> None:
    from transformers import GotOcr2ImageProcessor, InternVLConfig, InternVLProcessor

    tok = tokenizer("qwen25", {"start_image_token": "<img>", "end_image_token": "</img>",
                               "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"},
                    plain=("<ref>", "</ref>", "<box>", "</box>"))
    config = InternVLConfig(
        vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                           image_size=[64, 64], patch_size=[16, 16]),
        text_config=dict(TEXT, model_type="qwen2", vocab_size=len(tok), tie_word_embeddings=True),
        image_token_id=tok.context_image_token_id, downsample_ratio=0.5, vision_feature_layer=-1)
    images = GotOcr2ImageProcessor(size={"height": 64, "width": 64}, crop_to_patches=False, max_patches=1)
    processor = InternVLProcessor(image_processor=images, tokenizer=tok, video_processor=_video_processor(),
                                  image_seq_length=4, chat_template=TEMPLATE)
    write_folder(folder, config, processor, [tok.convert_tokens_to_ids("<|im_end|>")], SEED)


def _video_processor():
    from transformers.models.internvl.video_processing_internvl import InternVLVideoProcessor

    return InternVLVideoProcessor(size={"height": 64, "width": 64})


def build(models_dir: Path, name: str = NAME) -> str:
    return build_once(models_dir, name, write)
