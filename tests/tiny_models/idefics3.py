"""A tiny Idefics3 (SmolVLM's architecture: SigLIP-style tower, pixel-shuffle connector, Llama language
model, 4 tokens per image) in the Hugging Face folder layout, with ComfyUI's Llama tokenizer plus its image
tokens. (SmolVLM's own processor needs the num2words package, which the test host lacks.)"""

from pathlib import Path

from ._vlm import TEXT, build_once, chat_template, tokenizer, write_folder

NAME = "Idefics3-tiny-Llama"
SEED = 3232
TEMPLATE = chat_template({"system": ("<|im_start|>System: ", "<end_of_utterance>\n"),
                          "user": ("<|im_start|>User:", "<end_of_utterance>\n"),
                          "assistant": ("Assistant:", "<end_of_utterance>\n")}, "<image>")


def write(folder: Path) -> None:
    from transformers import Idefics3Config, Idefics3ImageProcessor, Idefics3Processor

    tok = tokenizer("llama", {"image_token": "<image>"},
                    added=("<fake_token_around_image>", "<global-img>", "<end_of_utterance>", "<|im_start|>"))
    config = Idefics3Config(
        text_config=dict(TEXT, model_type="llama", vocab_size=len(tok)),
        vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                           image_size=64, patch_size=16),
        scale_factor=2, image_token_id=tok.convert_tokens_to_ids("<image>"), tie_word_embeddings=True)
    images = Idefics3ImageProcessor(size={"longest_edge": 64}, max_image_size={"longest_edge": 64},
                                    do_image_splitting=False)
    processor = Idefics3Processor(image_processor=images, tokenizer=tok, image_seq_len=4, chat_template=TEMPLATE)
    write_folder(folder, config, processor, [tok.convert_tokens_to_ids("<end_of_utterance>")], SEED)


def build(models_dir: Path, name: str = NAME) -> str:
    return build_once(models_dir, name, write)
