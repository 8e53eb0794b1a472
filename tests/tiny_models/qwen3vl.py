"""Tiny Qwen3-VL and Qwen3.5 (both read images through Qwen3-VL's processor: 16 px patches, 2x2 merge)
in the Hugging Face folder layout, with ComfyUI's Qwen2.5 tokenizer (it already holds the vision tokens).
Qwen3.5's language model mixes linear-attention and full-attention layers; it needs transformers >= 5."""

from pathlib import Path

from ._vlm import CHATML, TEXT, build_once, chat_template, tokenizer, write_folder

NAME = "Qwen3-VL-tiny-Instruct"
QWEN35_NAME = "Qwen3.5-tiny"
SEED = 3434
TEMPLATE = chat_template(CHATML, "<|vision_start|><|image_pad|><|vision_end|>")
VISION = dict(depth=2, hidden_size=64, intermediate_size=128, num_heads=2, out_hidden_size=64, patch_size=16,
              spatial_merge_size=2, temporal_patch_size=2, num_position_embeddings=64)
ROPE = {"rope_type": "default", "mrope_section": [2, 3, 3], "mrope_interleaved": True}


def _tokenizer():
    return tokenizer("qwen25", {"image_token": "<|image_pad|>", "video_token": "<|video_pad|>",
                                "vision_start_token": "<|vision_start|>", "vision_end_token": "<|vision_end|>"})


def _processor(tok):
    from transformers import Qwen2VLImageProcessor, Qwen3VLProcessor
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import Qwen3VLVideoProcessor

    images = Qwen2VLImageProcessor(patch_size=16, merge_size=2, min_pixels=4096, max_pixels=65536)
    return Qwen3VLProcessor(image_processor=images, tokenizer=tok, video_processor=Qwen3VLVideoProcessor(),
                            chat_template=TEMPLATE)


def _ids(tok) -> dict:
    return dict(image_token_id=tok.convert_tokens_to_ids("<|image_pad|>"),
                video_token_id=tok.convert_tokens_to_ids("<|video_pad|>"),
                vision_start_token_id=tok.convert_tokens_to_ids("<|vision_start|>"),
                vision_end_token_id=tok.convert_tokens_to_ids("<|vision_end|>"))


def write_qwen3_vl(folder: Path) -> None:
    from transformers import Qwen3VLConfig

    tok = _tokenizer()
    config = Qwen3VLConfig(text_config=dict(TEXT, vocab_size=len(tok), rope_scaling=ROPE, rope_parameters=ROPE),
                           vision_config=dict(VISION, deepstack_visual_indexes=[1]), tie_word_embeddings=True,
                           **_ids(tok))
    write_folder(folder, config, _processor(tok), [tok.convert_tokens_to_ids("<|im_end|>")], SEED)


def write_qwen3_5(folder: Path) -> None:
    from transformers import Qwen3_5Config

    tok = _tokenizer()
    text = dict(TEXT, vocab_size=len(tok), layer_types=["linear_attention", "full_attention"],
                linear_key_head_dim=16, linear_value_head_dim=16, linear_num_key_heads=2, linear_num_value_heads=4,
                rope_parameters=dict(ROPE, rope_theta=10000.0, partial_rotary_factor=0.25))
    config = Qwen3_5Config(text_config=text, vision_config=VISION, tie_word_embeddings=True, **_ids(tok))
    write_folder(folder, config, _processor(tok), [tok.convert_tokens_to_ids("<|im_end|>")], SEED)


def build(models_dir: Path, name: str = NAME) -> str:
    return build_once(models_dir, name, write_qwen3_vl)


def build_qwen3_5(models_dir: Path, name: str = QWEN35_NAME) -> str:
    return build_once(models_dir, name, write_qwen3_5)
