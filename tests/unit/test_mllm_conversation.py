"""Legacy LLaVA templates render exactly as the checkpoints were trained; LLMGA's name rule; splicing ids."""

import pytest

from genassist.mllm.conversation import LLMGA_SYSTEM, TEMPLATES, render, template_for_model_name
from genassist.mllm.legacy_llava import build_projector, build_prompt, tokenize_with_images

USER = "<image>\nGenerate a similar image."


@pytest.mark.parametrize("template,expected", [
    ("llava_v1", "A chat between a curious human and an artificial intelligence assistant. The assistant gives "
                 "helpful, detailed, and polite answers to the human's questions. USER: <image>\nGenerate a "
                 "similar image. ASSISTANT:"),
    ("llava_llama_2", f"[INST] <<SYS>>\n{LLMGA_SYSTEM}\n<</SYS>>\n\n<image>\nGenerate a similar image. [/INST]"),
    ("mistral_instruct", "[INST] <<SYS>>\n\n<</SYS>>\n\n<image>\nGenerate a similar image. [/INST]"),
    ("qwen_2", "<|im_start|>system\nA conversation between a user and an LLM-based AI assistant. The assistant "
               "gives helpful and honest answers.<|im_end|><|im_start|>user\n<image>\nGenerate a similar image."
               "<|im_end|><|im_start|>assistant\n"),
    ("gemma", "<start_of_turn>user\n<image>\nGenerate a similar image.<end_of_turn>\n<start_of_turn>model\n"),
    ("phi_3", "<|user|>\n<image>\nGenerate a similar image.<|end|>\n<|assistant|>\n"),
    ("llava_v0", "A chat between a curious human and an artificial intelligence assistant. The assistant gives "
                 "helpful, detailed, and polite answers to the human's questions.###Human: <image>\nGenerate a "
                 "similar image.###Assistant:"),
])
def test_single_turn_prompts(template, expected):
    assert render(template, [USER, None]) == expected


def test_llama3_template_keeps_llmgas_system_header_for_the_assistant():
    prompt = render("llama_3", [USER, None])
    assert prompt.endswith("<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n<image>\nGenerate a similar "
                           "image.<|eot_id|><|start_header_id|>system<|end_header_id|>\n\n")
    assert prompt.startswith("<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful language")


def test_two_turn_edit_conversation_llava_v1():
    prompt = build_prompt("llava_v1", ["Generate a similar image", "make it snowy"],
                          ["<gen_image> a house </gen_image>"])
    assert prompt.endswith(" USER: <image>\nGenerate a similar image ASSISTANT: <gen_image> a house </gen_image>"
                           "</s>USER: make it snowy ASSISTANT:")


def test_two_turn_llama_2():
    prompt = render("llava_llama_2", ["hi", "ans", "again", None])
    assert prompt.endswith("hi [/INST] ans </s><s>[INST] again [/INST]")


def test_image_after_text_and_start_end_tokens():
    assert build_prompt("vicuna_v1", ["what will this image be like if 'x'"], use_im_start_end=True,
                        image_after_text=True).endswith(
        "USER: what will this image be like if 'x'\n<im_start><image><im_end> ASSISTANT:")


@pytest.mark.parametrize("name,template", [
    ("llmga-vicuna-7b-v1.5-full-finetune", "llava_v1"),
    ("llmga-llama3-8b-it-full-finetune", "llama_3"),
    ("llmga-llama-2-7b-chat-full-finetune", "llava_llama_2"),
    ("llmga-Qwen2-1.5B-full-finetune", "qwen_2"),
    ("llmga-gemma-2b-it-full-finetune", "gemma"),
    ("llmga-Phi-3-mini-128k-full-finetune", "phi_3"),
    ("llmga-mistral_instruct-full-finetune", "mistral_instruct"),
    ("my-renamed-folder", "llava_v0"),
])
def test_llmga_name_rule(name, template):
    assert template_for_model_name(name) == template


def test_renamed_folder_falls_back_on_backbone():
    assert template_for_model_name("my-model", "qwen2") == "qwen_2"


def test_stop_strings():
    assert TEMPLATES["llava_v1"].stop_string == "</s>"
    assert TEMPLATES["qwen_2"].stop_string == "<|im_end|>"
    assert TEMPLATES["gemma"].stop_string == "<eos>"
    assert TEMPLATES["llama_3"].stop_string == "<|eot_id|>"


class FakeTokenizer:
    """Each character is a token (ord), BOS 1 added to every call, like a Llama tokenizer."""

    bos_token_id = 1

    def __call__(self, text):
        return type("Enc", (), {"input_ids": [1] + [ord(c) for c in text]})()


def test_tokenize_with_images_keeps_one_bos_and_places_the_placeholder():
    ids = tokenize_with_images(FakeTokenizer(), "ab<image>\ncd")
    assert ids == [1, ord("a"), ord("b"), -200, ord("\n"), ord("c"), ord("d")]


def test_tokenize_without_bos():
    class NoBos(FakeTokenizer):
        bos_token_id = None

        def __call__(self, text):
            return type("Enc", (), {"input_ids": [ord(c) for c in text]})()

    assert tokenize_with_images(NoBos(), "a<image>b") == [ord("a"), -200, ord("b")]


def test_projector_layouts_match_checkpoint_keys():
    assert set(build_projector("mlp2x_gelu", 8, 4).state_dict()) == {"0.weight", "0.bias", "2.weight", "2.bias"}
    assert set(build_projector("linear", 8, 4).state_dict()) == {"weight", "bias"}
    with pytest.raises(ValueError, match="unsupported"):
        build_projector("resampler", 8, 4)
