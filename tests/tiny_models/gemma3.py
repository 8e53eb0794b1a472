"""A tiny Gemma 3 (SigLIP tower, 4 soft tokens per image) in the Hugging Face folder layout.

Tokenizer: ComfyUI's Llama one plus Gemma's turn and image tokens and the 1024 ``<locNNNN>`` location
tokens (plain tokens, as in Gemma's vocabulary, so they survive decoding). Its template has no system
role (it raises, as earlier Gemma templates did), which the backend must work around.
"""

from pathlib import Path

from ._vlm import TEXT, build_once, chat_template, tokenizer, write_folder

NAME = "gemma-3-tiny-it"
SEED = 3030
LOC_TOKENS = tuple(f"<loc{i:04d}>" for i in range(1024))
TEMPLATE = chat_template({"user": ("<start_of_turn>user\n", "<end_of_turn>\n"),
                          "assistant": ("<start_of_turn>model\n", "<end_of_turn>\n")}, "<start_of_image>")


def write(folder: Path) -> None:
    from transformers import Gemma3Config, Gemma3ImageProcessor, Gemma3Processor

    tok = tokenizer("llama", {"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>",
                              "image_token": "<image_soft_token>"},
                    added=("<start_of_turn>", "<end_of_turn>"), plain=LOC_TOKENS)
    config = Gemma3Config(
        text_config=dict(TEXT, vocab_size=len(tok), sliding_window=64, query_pre_attn_scalar=16),
        vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                           image_size=64, patch_size=16),
        mm_tokens_per_image=4, boi_token_index=tok.boi_token_id, eoi_token_index=tok.eoi_token_id,
        image_token_index=tok.image_token_id, tie_word_embeddings=True)
    processor = Gemma3Processor(image_processor=Gemma3ImageProcessor(size={"height": 64, "width": 64}),
                                tokenizer=tok, chat_template=TEMPLATE, image_seq_length=4)
    write_folder(folder, config, processor, [tok.convert_tokens_to_ids("<end_of_turn>"), tok.eos_token_id], SEED)


def build(models_dir: Path, name: str = NAME) -> str:
    return build_once(models_dir, name, write)
